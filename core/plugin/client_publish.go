package plugin

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin/internal/wire"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// publishMux carries a BrokerClient's Publish calls over one PublishMux
// stream, many at a time: a multiplexed connection. Each call has an id;
// the plugin answers each with its id and status, and receive hands the
// answer to the caller waiting for it.
//
// A caller encodes its call itself, and so keeps nothing of its message
// once the call is queued. Sending combines: a caller queues its call and,
// if no other caller is sending, sends the queue, and again, until it is
// empty; so the calls made while one batch is on its way go together in
// the next.
type publishMux struct {
	cn     *conn
	stream publishStream
	cancel func()

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*publishCall // queued or sent, not answered
	queue   []*publishCall          // not yet taken to be sent
	cancels []uint64                // ids given up on, to tell the plugin
	sending bool                    // a caller is sending the queue
	err     error                   // set once the stream has failed
}

// publishStream is where a publishMux sends calls: a PublishMux gRPC
// stream, or the data link of the plugin process. SendMsg takes a
// *pluginpb.PublishBatchEncoded.
type publishStream interface {
	SendMsg(m any) error
}

// publishCall is one Publish waiting for its answer.
type publishCall struct {
	id   uint64
	enc  *[]byte            // the encoded PublishCall, from publishBufs; the sender's once taken
	done chan publishAnswer // buffered: one answer
}

type publishAnswer struct {
	code   codes.Code
	msg    string
	err    error // the stream's error, when it failed
	failed bool
}

var (
	publishCalls = sync.Pool{New: func() any {
		return &publishCall{done: make(chan publishAnswer, 1)}
	}}
	publishBufs = sync.Pool{New: func() any { return new([]byte) }}
)

// publishMux returns the mux on cn, opening one if there is none or the
// last one failed.
func (b *BrokerClient) publishMux(cn *conn) (*publishMux, error) {
	b.muxMu.Lock()
	defer b.muxMu.Unlock()
	if m := b.mux; m != nil && m.cn == cn && !m.failed() {
		return m, nil
	}
	if b.mux != nil {
		b.mux.cancel() // on a dead connection, or failed
		b.mux = nil
	}
	if cn.data.take() {
		// The data link ends with the process; a mux that fails on
		// it leaves it, and the next one uses gRPC. Its reader hands
		// the answers over (hostData.frame).
		m := &publishMux{cn: cn, stream: cn.data, cancel: func() {}, pending: make(map[uint64]*publishCall)}
		b.mux = m
		cn.data.setMux(m)
		return m, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cn.broker.PublishMux(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	m := &publishMux{cn: cn, stream: stream, cancel: cancel, pending: make(map[uint64]*publishCall)}
	b.mux = m
	go m.receive(stream)
	return m, nil
}

// closeMux ends the mux, if any.
func (b *BrokerClient) closeMux() {
	b.muxMu.Lock()
	defer b.muxMu.Unlock()
	if b.mux != nil {
		b.mux.cancel()
		b.mux = nil
	}
}

func (m *publishMux) failed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err != nil
}

// publish makes one call and waits for its answer, or for ctx. An error of
// the stream is returned as failed, for the caller to interpret.
func (m *publishMux) publish(ctx context.Context, topic string, msg *broker.Message) publishAnswer {
	c, a := m.queue1(ctx, topic, msg)
	if c == nil {
		return a
	}
	m.send()
	return m.await(ctx, c)
}

// publishBatch makes a call for each publication, sends them together, and
// waits for their answers, or for ctx.
func (m *publishMux) publishBatch(ctx context.Context, pubs []broker.Publication, answers []publishAnswer) {
	calls := make([]*publishCall, len(pubs))
	for i, p := range pubs {
		calls[i], answers[i] = m.queue1(ctx, p.Topic, p.Message)
	}
	m.send()
	for i, c := range calls {
		if c != nil {
			answers[i] = m.await(ctx, c)
		}
	}
}

// queue1 encodes a call and queues it, without sending it. It returns the
// call, or nil and the answer when it cannot be made.
func (m *publishMux) queue1(ctx context.Context, topic string, msg *broker.Message) (*publishCall, publishAnswer) {
	m.mu.Lock()
	if m.err != nil {
		err := m.err
		m.mu.Unlock()
		return nil, publishAnswer{failed: true, err: err}
	}
	m.nextID++
	id := m.nextID
	m.mu.Unlock()

	var deadline int64
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl.UnixNano()
	}
	buf := publishBufs.Get().(*[]byte)
	enc, err := wire.AppendPublishCall((*buf)[:0], id, topic, msg, deadline)
	if err != nil {
		publishBufs.Put(buf)
		return nil, publishAnswer{failed: true, err: fmt.Errorf("publish to %q: %w", topic, err)}
	}
	*buf = enc

	c := publishCalls.Get().(*publishCall)
	c.id, c.enc = id, buf
	m.mu.Lock()
	if m.err != nil {
		err := m.err
		m.mu.Unlock()
		c.release()
		return nil, publishAnswer{failed: true, err: err}
	}
	m.pending[id] = c
	m.queue = append(m.queue, c)
	m.mu.Unlock()
	return c, publishAnswer{}
}

// send sends the queue, unless another caller is sending it.
func (m *publishMux) send() {
	m.mu.Lock()
	send := !m.sending
	m.sending = true
	m.mu.Unlock()
	if send {
		m.sendQueue()
	}
}

// await waits for the answer of c, or for ctx.
func (m *publishMux) await(ctx context.Context, c *publishCall) publishAnswer {
	id := c.id
	select {
	case a := <-c.done:
		c.release()
		return a
	case <-ctx.Done():
	}
	// The caller gives up. If the call is still queued, it is never
	// sent; else the plugin is told, with the next batch.
	m.mu.Lock()
	_, waiting := m.pending[id]
	delete(m.pending, id)
	send := false
	if waiting {
		queued := false
		for i, q := range m.queue {
			if q == c {
				m.queue = append(m.queue[:i], m.queue[i+1:]...)
				queued = true
				break
			}
		}
		if !queued && m.err == nil {
			m.cancels = append(m.cancels, id)
			send = !m.sending
			m.sending = true
		}
	}
	m.mu.Unlock()
	if !waiting {
		// The answer came meanwhile (or the stream failed): c.done holds it.
		a := <-c.done
		c.release()
		return a
	}
	// Neither the queue nor receive has c any more.
	c.release()
	if send {
		m.sendQueue()
	}
	return publishAnswer{failed: true, err: ctx.Err()}
}

// release puts c, and its encoding if it still has it, back in their pools.
func (c *publishCall) release() {
	if c.enc != nil {
		*c.enc = (*c.enc)[:0]
		publishBufs.Put(c.enc)
		c.enc = nil
	}
	publishCalls.Put(c)
}

// sendQueue sends the queued calls and cancellations, batch after batch,
// until there are none; one caller at a time runs it.
func (m *publishMux) sendQueue() {
	var (
		bufs  []*[]byte
		batch pluginpb.PublishBatchEncoded
	)
	for {
		runtime.Gosched()
		m.mu.Lock()
		if (len(m.queue) == 0 && len(m.cancels) == 0) || m.err != nil {
			m.sending = false
			m.mu.Unlock()
			return
		}
		// Take the encodings: from here on the calls are not touched,
		// for their callers may have their answers and reuse them.
		batch.Calls, bufs = batch.Calls[:0], bufs[:0]
		for _, c := range m.queue {
			batch.Calls = append(batch.Calls, *c.enc)
			bufs = append(bufs, c.enc)
			c.enc = nil
		}
		clear(m.queue)
		m.queue = m.queue[:0]
		batch.Cancel, m.cancels = m.cancels, nil
		m.mu.Unlock()

		// SendMsg encodes batch, the same bytes as a PublishBatch.
		err := m.stream.SendMsg(&batch)
		for i, buf := range bufs {
			*buf = (*buf)[:0]
			publishBufs.Put(buf)
			bufs[i] = nil
		}
		clear(batch.Calls)
		if err != nil {
			// io.EOF: the stream ended, and receive gets its status;
			// anything else is the failure.
			if err != io.EOF {
				m.fail(err)
			}
			m.mu.Lock()
			m.sending = false
			m.mu.Unlock()
			return
		}
	}
}

// receive hands the plugin's answers on stream to their callers until the
// stream ends, and then fails the calls in progress with its error.
func (m *publishMux) receive(stream pluginpb.Broker_PublishMuxClient) {
	var batch pluginpb.PublishResultBatch
	for {
		batch.Results = batch.Results[:0]
		if err := stream.RecvMsg(&batch); err != nil {
			m.fail(err)
			return
		}
		m.answer(&batch)
	}
}

// answer hands the answers of batch to their callers.
func (m *publishMux) answer(batch *pluginpb.PublishResultBatch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range batch.Results {
		c := m.pending[r.Id]
		if c == nil {
			continue // given up on
		}
		delete(m.pending, r.Id)
		c.done <- publishAnswer{code: codes.Code(r.Code), msg: r.Error}
	}
}

func (m *publishMux) fail(err error) {
	m.cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
	for id, c := range m.pending {
		delete(m.pending, id)
		c.done <- publishAnswer{failed: true, err: m.err}
	}
	clear(m.queue)
	m.queue = m.queue[:0]
	m.cancels = nil
}

// answerErr is the error of a's call, as Publish returns it.
func (b *BrokerClient) answerErr(ctx context.Context, cn *conn, a publishAnswer) error {
	switch {
	case a.failed:
		return b.err(ctx, cn, a.err)
	case a.code == codes.OK:
		return nil
	default:
		return b.err(ctx, cn, status.Error(a.code, a.msg))
	}
}
