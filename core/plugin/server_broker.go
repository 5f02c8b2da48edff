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
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

type brokerServer struct {
	pluginpb.UnimplementedBrokerServer
	srv *server
}

func (s *brokerServer) broker() (broker.Broker, error) {
	if inst := s.srv.impl.Load(); inst != nil {
		return inst.broker, nil
	}
	return nil, errNotConfigured
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

	err := ss.send(&pluginpb.SubscribeResponse{
		Id:      id,
		Message: &pluginpb.Message{Id: msg.ID, Header: msg.Header, Body: msg.Body},
	})
	if err != nil {
		return errSubscriptionEnded
	}
	select {
	case a := <-ch:
		return a.err()
	case <-ss.ended:
		return errSubscriptionEnded
	case <-ctx.Done():
	}
	// The handler's context ended first: pass that on to the host handler,
	// and return its answer, as an in-process handler returns when it
	// sees its context end.
	if err := ss.send(&pluginpb.SubscribeResponse{Id: id, Cancel: true}); err != nil {
		return errSubscriptionEnded
	}
	select {
	case a := <-ch:
		return a.err()
	case <-ss.ended:
		return errSubscriptionEnded
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
	ps := &serverPublish{stream: stream, b: b, sem: make(chan struct{}, maxConcurrentPublishes), calls: make(map[uint64]context.CancelFunc)}
	defer ps.wg.Wait() // the publishes in progress answer, or fail to
	for {
		batch := new(pluginpb.PublishBatch)
		if err := stream.RecvMsg(batch); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if len(batch.Cancel) > 0 {
			ps.mu.Lock()
			for _, id := range batch.Cancel {
				if c := ps.calls[id]; c != nil {
					c()
				}
			}
			ps.mu.Unlock()
		}
		for _, call := range batch.Calls {
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
			ps.calls[call.Id] = ccancel
			ps.mu.Unlock()
			ps.wg.Add(1)
			go ps.publish(cctx, ccancel, call)
		}
	}
}

// serverPublish is the plugin side of one PublishMux stream.
type serverPublish struct {
	stream pluginpb.Broker_PublishMuxServer
	b      broker.Broker
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	calls   map[uint64]context.CancelFunc // in progress, by id
	queue   []*pluginpb.PublishResult     // answers not yet sent
	sending bool
	spare   []*pluginpb.PublishResult
}

func (ps *serverPublish) publish(ctx context.Context, cancel context.CancelFunc, call *pluginpb.PublishCall) {
	defer ps.wg.Done()
	err := ps.b.Publish(ctx, call.Topic, messageFromPB(call.Message))
	r := &pluginpb.PublishResult{Id: call.Id}
	if err != nil {
		st := status.Convert(toStatus(err, brokerSentinels))
		r.Code, r.Error = uint32(st.Code()), st.Message()
	}
	ps.mu.Lock()
	delete(ps.calls, call.Id)
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
		err := ps.stream.Send(&batch)
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
