package plugin

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// publishMux carries a BrokerClient's Publish calls over one PublishMux
// stream, many at a time: a multiplexed connection. Each call has an id;
// the plugin answers each with its id and status, and receive hands the
// answer to the caller waiting for it.
//
// Sending combines: a caller queues its call and, if no other caller is
// sending, sends the queue, and again, until it is empty; so the calls
// made while one batch is on its way go together in the next.
type publishMux struct {
	cn     *conn
	stream pluginpb.Broker_PublishMuxClient
	cancel context.CancelFunc

	sendMu sync.Mutex // one Send at a time
	batch  pluginpb.PublishBatch

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*publishCall // sent or queued, not answered
	queue   []*publishCall          // not yet taken to be sent
	sending bool                    // a caller is sending the queue
	err     error                   // set once the stream has failed
}

// publishCall is one Publish waiting for its answer.
type publishCall struct {
	req  pluginpb.PublishCall
	msg  pluginpb.Message
	done chan publishAnswer // buffered: one answer
}

type publishAnswer struct {
	code   codes.Code
	msg    string
	err    error // the stream's error, when it failed
	failed bool
}

var publishCalls = sync.Pool{New: func() any {
	return &publishCall{done: make(chan publishAnswer, 1)}
}}

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
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cn.broker.PublishMux(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	m := &publishMux{cn: cn, stream: stream, cancel: cancel, pending: make(map[uint64]*publishCall)}
	b.mux = m
	go m.receive()
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
	c := publishCalls.Get().(*publishCall)
	c.req.Topic = topic
	c.req.Message = nil
	if msg != nil {
		c.msg.Id, c.msg.Header, c.msg.Body = msg.ID, msg.Header, msg.Body
		c.req.Message = &c.msg
	}

	m.mu.Lock()
	if m.err != nil {
		err := m.err
		m.mu.Unlock()
		c.release()
		return publishAnswer{failed: true, err: err}
	}
	m.nextID++
	c.req.Id = m.nextID
	m.pending[c.req.Id] = c
	m.queue = append(m.queue, c)
	send := !m.sending
	m.sending = true
	m.mu.Unlock()
	if send {
		m.sendQueue()
	}

	select {
	case a := <-c.done:
		c.release()
		return a
	case <-ctx.Done():
	}
	// The caller gives up. If the call is still queued, it is never
	// sent; if it is being sent, wait for the Send, which reads msg,
	// since msg is not kept once Publish returns. Then tell the plugin.
	m.mu.Lock()
	_, waiting := m.pending[c.req.Id]
	delete(m.pending, c.req.Id)
	queued := false
	for i, q := range m.queue {
		if q == c {
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			queued = true
			break
		}
	}
	m.mu.Unlock()
	if !waiting {
		// The answer came meanwhile (or the stream failed): c.done holds it.
		a := <-c.done
		c.release()
		return a
	}
	if !queued {
		m.sendMu.Lock()
		_ = m.stream.Send(&pluginpb.PublishBatch{Cancel: []uint64{c.req.Id}})
		m.sendMu.Unlock()
	}
	// c is not released: nothing may write to it any more, but be safe.
	return publishAnswer{failed: true, err: ctx.Err()}
}

func (c *publishCall) release() {
	c.msg.Header, c.msg.Body = nil, nil
	c.req.Message = nil
	publishCalls.Put(c)
}

// sendQueue sends the queued calls, batch after batch, until the queue is
// empty; one caller at a time runs it.
func (m *publishMux) sendQueue() {
	var calls []*publishCall
	for {
		// sendMu before taking the queue: a caller that gives up on a
		// call no longer queued waits on sendMu for its Send to be done.
		m.sendMu.Lock()
		m.mu.Lock()
		if len(m.queue) == 0 || m.err != nil {
			m.sending = false
			m.mu.Unlock()
			m.sendMu.Unlock()
			return
		}
		calls, m.queue = m.queue, calls[:0]
		m.mu.Unlock()

		m.batch.Calls = m.batch.Calls[:0]
		for _, c := range calls {
			m.batch.Calls = append(m.batch.Calls, &c.req)
		}
		err := m.stream.Send(&m.batch)
		clear(m.batch.Calls)
		m.sendMu.Unlock()
		clear(calls)
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

// receive hands the plugin's answers to their callers until the stream
// ends, and then fails the calls in progress with its error.
func (m *publishMux) receive() {
	var batch pluginpb.PublishResultBatch
	for {
		batch.Results = batch.Results[:0]
		if err := m.stream.RecvMsg(&batch); err != nil {
			m.fail(err)
			return
		}
		m.mu.Lock()
		for _, r := range batch.Results {
			c := m.pending[r.Id]
			if c == nil {
				continue // given up on
			}
			delete(m.pending, r.Id)
			c.done <- publishAnswer{code: codes.Code(r.Code), msg: r.Error}
		}
		m.mu.Unlock()
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
