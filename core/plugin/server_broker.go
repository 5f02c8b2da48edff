package plugin

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin/internal/wire"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

type brokerServer struct {
	pluginpb.UnimplementedBrokerServer
	srv *server
}

func (s *brokerServer) broker() (broker.Broker, error) {
	return configured(s.srv, func(inst *instance) broker.Broker { return inst.broker })
}

func (s *brokerServer) Publish(ctx context.Context, req *pluginpb.PublishRequest) (*pluginpb.Empty, error) {
	b, err := s.broker()
	if err != nil {
		return nil, err
	}
	return empty, toStatus(b.Publish(ctx, req.Topic, messageFromPB(req.Message)), brokerSentinels)
}

func (s *brokerServer) PublishStream(stream pluginpb.Broker_PublishStreamServer) error {
	b, err := s.broker()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	// One request and one message, reused: Publish keeps neither.
	var (
		req pluginpb.PublishRequest
		msg broker.Message
		n   uint64
	)
	for {
		if err := stream.RecvMsg(&req); err != nil {
			if err == io.EOF {
				return stream.SendAndClose(&pluginpb.PublishStreamResponse{Published: n})
			}
			return err
		}
		m := &msg
		if req.Message == nil {
			m = nil
		} else {
			msg = broker.Message{ID: req.Message.Id, Header: req.Message.Header, Body: req.Message.Body}
		}
		if err := b.Publish(ctx, req.Topic, m); err != nil {
			return toStatus(err, brokerSentinels)
		}
		n++
	}
}

func (s *brokerServer) Close(ctx context.Context, _ *pluginpb.CloseRequest) (*pluginpb.Empty, error) {
	b, err := s.broker()
	if err != nil {
		return nil, err
	}
	return empty, toStatus(b.Close(ctx), brokerSentinels)
}

// errSubscriptionEnded is what a plugin-side handler returns for a delivery
// the host can no longer answer.
var errSubscriptionEnded = errors.New("plugin: subscription ended before the host answered")

func (s *brokerServer) Subscribe(stream pluginpb.Broker_SubscribeServer) error {
	b, err := s.broker()
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	ss := &serverSub{
		stream:  stream,
		pending: make(map[uint64]chan answer),
		ended:   make(chan struct{}),
	}
	if first.Link != 0 {
		if d := s.srv.data.Load(); d != nil {
			// Deliveries and answers on the data link.
			ss.data, ss.key = d, first.Link
			d.register(ss.key, ss)
			defer d.unregister(ss.key)
		}
	}
	var opts []broker.SubscribeOption
	if first.Queue != "" {
		opts = append(opts, broker.Queue(first.Queue))
	}
	if first.Concurrency > 0 {
		// Each handler call waits for the host's answer, so this is also
		// how many deliveries are in flight on the stream at once.
		opts = append(opts, broker.Concurrency(int(min(first.Concurrency, math.MaxInt32))))
	}
	ctx := stream.Context()
	sub, err := b.Subscribe(ctx, first.Topic, ss.handle, opts...)
	if err != nil {
		return toStatus(err, brokerSentinels)
	}
	if err := ss.send(&pluginpb.SubscribeResponse{}); err != nil {
		ss.end()
		_ = sub.Unsubscribe(context.WithoutCancel(ctx))
		return err
	}

	// Read the host's answers and its unsubscribe until the stream ends.
	unsubscribed := make(chan error, 1)
	recvErr := make(chan error, 1)
	go func() {
		var once sync.Once
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			switch {
			case req.Unsubscribe:
				// Unsubscribe waits for handlers in progress, which
				// wait for answers: keep reading them meanwhile.
				once.Do(func() {
					go func() { unsubscribed <- sub.Unsubscribe(context.WithoutCancel(ctx)) }()
				})
			case req.Id != 0:
				ss.answer(req)
			}
		}
	}()

	select {
	case err := <-unsubscribed:
		ss.end()
		return toStatus(err, brokerSentinels)
	case <-recvErr:
		// The host went away without unsubscribing: its answers will
		// never come, so fail the deliveries in progress and unsubscribe.
		ss.end()
		select {
		case err := <-unsubscribed:
			return toStatus(err, brokerSentinels)
		default:
		}
		return toStatus(sub.Unsubscribe(context.WithoutCancel(ctx)), brokerSentinels)
	}
}

// answer is the host's answer to one delivery.
type answer struct {
	reject bool
	msg    string
}

// serverSub is the plugin side of one subscription: its handler sends each
// delivery to the host and returns the host's answer.
type serverSub struct {
	stream pluginpb.Broker_SubscribeServer
	sendMu sync.Mutex
	data   *pluginData // the data link, if deliveries go there
	key    uint64      // the subscription's key on it

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan answer
	ended   chan struct{} // closed by end
	isEnded bool
}

func (ss *serverSub) send(resp *pluginpb.SubscribeResponse) error {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	return ss.stream.Send(resp)
}

// deliver sends delivery id of msg to the host, or its cancellation if
// msg is nil: on the data link, batched with others, or on the stream.
func (ss *serverSub) deliver(id uint64, msg *broker.Message) error {
	if ss.data != nil {
		ss.data.deliveries.Add(wire.Delivery{Sub: ss.key, ID: id, Msg: msg, Cancel: msg == nil})
		return nil
	}
	var m *pluginpb.Message
	if msg != nil {
		m = &pluginpb.Message{Id: msg.ID, Header: msg.Header, Body: msg.Body}
	}
	return ss.send(&pluginpb.SubscribeResponse{Id: id, Message: m, Cancel: msg == nil})
}

// end makes every handler waiting for an answer, and every later one,
// return errSubscriptionEnded.
func (ss *serverSub) end() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.isEnded {
		ss.isEnded = true
		close(ss.ended)
	}
}

func (ss *serverSub) answer(req *pluginpb.SubscribeRequest) {
	ss.mu.Lock()
	ch := ss.pending[req.Id]
	delete(ss.pending, req.Id)
	ss.mu.Unlock()
	if ch != nil {
		ch <- answer{reject: req.Reject, msg: req.Error} // buffered, one answer
	}
}

// handle is the broker.Handler of the plugin-side subscription.
func (ss *serverSub) handle(ctx context.Context, msg *broker.Message) error {
	ch := make(chan answer, 1)
	ss.mu.Lock()
	if ss.isEnded {
		ss.mu.Unlock()
		return errSubscriptionEnded
	}
	ss.nextID++
	id := ss.nextID
	ss.pending[id] = ch
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		delete(ss.pending, id)
		ss.mu.Unlock()
	}()

	if answered, err := ss.exchange(id, msg, ch, ctx.Done()); answered {
		return err
	}
	// The handler's context ended first: pass that on to the host handler,
	// and return its answer, as an in-process handler returns when it
	// sees its context end.
	_, err := ss.exchange(id, nil, ch, nil)
	return err
}

// exchange sends delivery id of msg (nil: its handler's context ended) to
// the host and waits for the answer on ch, the end of the subscription or
// stop. It reports whether the exchange ended (with the error to return)
// before stop.
func (ss *serverSub) exchange(id uint64, msg *broker.Message, ch <-chan answer, stop <-chan struct{}) (answered bool, err error) {
	if err := ss.deliver(id, msg); err != nil {
		return true, errSubscriptionEnded
	}
	select {
	case a := <-ch:
		return true, a.err()
	case <-ss.ended:
		return true, errSubscriptionEnded
	case <-stop:
		return false, nil
	}
}

func (a answer) err() error {
	if !a.reject {
		return nil
	}
	return errors.New(a.msg)
}

// maxConcurrentPublishes bounds the publishes a PublishMux stream runs at
// once; past it, the stream stops reading until one returns.
const maxConcurrentPublishes = 256

// PublishMux publishes the host's calls concurrently, and answers each
// once the broker's Publish returns. Answers are sent by combining: the
// publish that finds no other sending sends the answers queued meanwhile
// with its own.
func (s *brokerServer) PublishMux(stream pluginpb.Broker_PublishMuxServer) error {
	b, err := s.broker()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	ps := newServerPublish(b, stream.Send)
	defer ps.wg.Wait() // the publishes in progress answer, or fail to
	for {
		batch := new(pluginpb.PublishBatch)
		if err := stream.RecvMsg(batch); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		calls := make([]*wire.Call, len(batch.Calls))
		for i, c := range batch.Calls {
			calls[i] = &wire.Call{ID: c.Id, Topic: c.Topic, Msg: messageFromPB(c.Message), Deadline: c.Deadline}
		}
		if err := ps.handle(ctx, calls, batch.Cancel); err != nil {
			return err
		}
	}
}

func newServerPublish(b broker.Broker, send func(*pluginpb.PublishResultBatch) error) *serverPublish {
	ps := &serverPublish{send: send, b: b, sem: make(chan struct{}, maxConcurrentPublishes), calls: make(map[uint64]context.CancelFunc)}
	// A broker that publishes batches gets the calls waiting as one batch.
	ps.bp, _ = b.(broker.BatchPublisher)
	return ps
}

// handle starts the publishes of calls and cancels the calls cancel names.
// It returns once they are started (waiting while maxConcurrentPublishes
// are in progress), or with ctx's error.
func (ps *serverPublish) handle(ctx context.Context, calls []*wire.Call, cancel []uint64) error {
	if len(cancel) > 0 {
		ps.mu.Lock()
		for _, id := range cancel {
			if c := ps.calls[id]; c != nil {
				c()
			} else {
				ps.cancelCall(id)
			}
		}
		ps.mu.Unlock()
	}
	if ps.bp != nil {
		for range calls {
			select {
			case ps.sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ps.enqueue(ctx, calls)
		return nil
	}
	for _, call := range calls {
		select {
		case ps.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var (
			cctx    context.Context
			ccancel context.CancelFunc
		)
		if call.Deadline != 0 {
			cctx, ccancel = context.WithDeadline(ctx, time.Unix(0, call.Deadline))
		} else {
			cctx, ccancel = context.WithCancel(ctx)
		}
		ps.mu.Lock()
		ps.calls[call.ID] = ccancel
		ps.mu.Unlock()
		ps.wg.Add(1)
		go ps.publish(cctx, ccancel, call)
	}
	return nil
}

// maxConcurrentBatches bounds the batches a PublishMux stream publishes at
// once through a broker.BatchPublisher. The calls that arrive meanwhile
// wait, and go together in the next batch: the fewer batches in flight,
// the larger each (a Redis pipeline, a run of NATS publishes) and the
// fewer round trips and system calls per message. Four keep the server
// busy while the plugin answers the last batches and gathers the next.
const maxConcurrentBatches = 4

// serverPublish is the plugin side of one PublishMux stream.
type serverPublish struct {
	send    func(*pluginpb.PublishResultBatch) error // sends answers
	b       broker.Broker
	bp      broker.BatchPublisher // b, if it is one
	sem     chan struct{}
	waiting []*wire.Call         // for a BatchPublisher: calls not yet in a batch
	running int                  // batches in progress
	inBatch map[uint64]*batchCtl // calls in a batch in progress, by id
	wg      sync.WaitGroup

	mu      sync.Mutex
	calls   map[uint64]context.CancelFunc // in progress, by id
	queue   []*pluginpb.PublishResult     // answers not yet sent
	sending bool
	spare   []*pluginpb.PublishResult
}

func (ps *serverPublish) publish(ctx context.Context, cancel context.CancelFunc, call *wire.Call) {
	defer ps.wg.Done()
	err := ps.b.Publish(ctx, call.Topic, call.Msg)
	r := &pluginpb.PublishResult{Id: call.ID}
	if err != nil {
		st := status.Convert(toStatus(err, brokerSentinels))
		r.Code, r.Error = uint32(st.Code()), st.Message()
	}
	ps.mu.Lock()
	delete(ps.calls, call.ID)
	ps.queue = append(ps.queue, r)
	send := !ps.sending
	ps.sending = true
	ps.mu.Unlock()
	cancel()
	<-ps.sem
	if send {
		ps.sendQueue()
	}
}

// enqueue adds calls to the waiting ones and starts a batch if fewer than
// maxConcurrentBatches are in progress.
func (ps *serverPublish) enqueue(ctx context.Context, calls []*wire.Call) {
	ps.mu.Lock()
	ps.waiting = append(ps.waiting, calls...)
	start := ps.running < maxConcurrentBatches
	if start {
		ps.running++
	}
	ps.mu.Unlock()
	if start {
		ps.wg.Add(1)
		go ps.batchLoop(ctx)
	}
}

// batchLoop publishes the waiting calls, batch after batch, until none
// wait.
func (ps *serverPublish) batchLoop(ctx context.Context) {
	defer ps.wg.Done()
	for {
		ps.mu.Lock()
		calls := ps.waiting
		ps.waiting = nil
		if len(calls) == 0 {
			ps.running--
			ps.mu.Unlock()
			return
		}
		ps.mu.Unlock()
		ps.publishBatch(ctx, calls)
	}
}

// batchCtl lets the host's cancellations end a batch: once every call of
// it is given up on, its ctx is cancelled.
type batchCtl struct {
	live   int
	cancel context.CancelFunc
}

// cancelCall gives up on call id, if it is not started on its own (those
// are in ps.calls): a waiting call is dropped, one in a batch counts
// towards the batch's cancellation. ps.mu is held.
func (ps *serverPublish) cancelCall(id uint64) {
	for i, c := range ps.waiting {
		if c.ID == id {
			ps.waiting = append(ps.waiting[:i], ps.waiting[i+1:]...)
			<-ps.sem
			return
		}
	}
	if bc := ps.inBatch[id]; bc != nil {
		delete(ps.inBatch, id)
		if bc.live--; bc.live == 0 {
			bc.cancel()
		}
	}
}

// publishBatch publishes calls with one PublishBatch and answers each.
// The batch runs until the latest deadline of its calls (none if one has
// none), or until the host has given up on every call in it; a call given
// up on while the others go on is published all the same, as one whose
// cancellation comes too late would be.
func (ps *serverPublish) publishBatch(ctx context.Context, calls []*wire.Call) {
	var latest int64
	pubs := make([]broker.Publication, len(calls))
	for i, call := range calls {
		pubs[i] = broker.Publication{Topic: call.Topic, Message: call.Msg}
		if latest >= 0 {
			if call.Deadline == 0 {
				latest = -1
			} else {
				latest = max(latest, call.Deadline)
			}
		}
	}
	var cancel context.CancelFunc
	if latest > 0 {
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, latest))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	bc := &batchCtl{live: len(calls), cancel: cancel}
	ps.mu.Lock()
	if ps.inBatch == nil {
		ps.inBatch = make(map[uint64]*batchCtl)
	}
	for _, call := range calls {
		ps.inBatch[call.ID] = bc
	}
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		for _, call := range calls {
			if ps.inBatch[call.ID] == bc {
				delete(ps.inBatch, call.ID)
			}
		}
		ps.mu.Unlock()
	}()
	errs := make([]error, len(calls))
	ps.bp.PublishBatch(ctx, pubs, errs)
	results := make([]*pluginpb.PublishResult, len(calls))
	for i, call := range calls {
		r := &pluginpb.PublishResult{Id: call.ID}
		if errs[i] != nil {
			st := status.Convert(toStatus(errs[i], brokerSentinels))
			r.Code, r.Error = uint32(st.Code()), st.Message()
		}
		results[i] = r
	}
	ps.mu.Lock()
	ps.queue = append(ps.queue, results...)
	send := !ps.sending
	ps.sending = true
	ps.mu.Unlock()
	for range calls {
		<-ps.sem
	}
	if send {
		ps.sendQueue()
	}
}

// sendQueue sends the queued answers until there are none; one publish at
// a time runs it.
func (ps *serverPublish) sendQueue() {
	var batch pluginpb.PublishResultBatch
	for {
		ps.mu.Lock()
		if len(ps.queue) == 0 {
			ps.sending = false
			ps.mu.Unlock()
			return
		}
		batch.Results, ps.queue, ps.spare = ps.queue, ps.spare[:0], nil
		ps.mu.Unlock()
		err := ps.send(&batch)
		clear(batch.Results)
		ps.mu.Lock()
		ps.spare = batch.Results[:0]
		ps.mu.Unlock()
		if err != nil {
			// The stream is gone: the host fails the calls itself.
			ps.mu.Lock()
			ps.queue = ps.queue[:0]
			ps.sending = false
			ps.mu.Unlock()
			return
		}
	}
}
