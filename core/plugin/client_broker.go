package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
	"github.com/seedmicro/micro/core/broker/gopool"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// BrokerClient is the broker.Broker a broker plugin serves. It behaves as
// the implementation behind the plugin does, errors included: errors.Is
// matches broker.ErrClosed, and other errors keep their message. An error of
// the channel itself (the plugin process is gone, say) names the plugin, and
// status.Code gives its gRPC code.
//
// Each subscription is one stream to the plugin. The plugin's broker calls
// a handler in the plugin that sends the message to the host and waits for
// the host handler's result: nil acknowledges the message, an error rejects
// it, with its message, so acknowledgement, redelivery and dead-lettering
// are the implementation's. broker.Concurrency(n) goes to the plugin's
// broker, which then calls its handler up to n times at once: each call is
// a delivery in flight on the subscription's stream, and the host runs a
// handler call for each delivery as it arrives, so up to n host handler
// calls overlap (one round trip no longer caps a subscription at one
// message at a time). A broker that treats n as 1 keeps one in flight.
// A host handler's ctx carries the values of the
// ctx given to Subscribe; it is cancelled when the plugin-side handler's
// ctx ends, and by Unsubscribe and Close. A handler that panics rejects its
// message.
//
// When the plugin process dies, every subscription subscribes again, with
// the same topic and queue, once the Client has started the plugin again
// (see Open): the Subscription stays valid throughout. The handlers in
// progress then have their ctx cancelled, and their results go nowhere: the
// messages they handle were the dead process's, and what becomes of them is
// up to the implementation (a broker with a server, such as RabbitMQ,
// delivers them again). Messages published while no process runs are not
// delivered.
type BrokerClient struct {
	c *Client

	mu        sync.Mutex
	closing   bool
	subs      map[*subscription]struct{}
	closeDone chan struct{} // closed when the first Close has returned

	muxMu sync.Mutex
	mux   *publishMux // Publish's stream; nil until the first Publish
}

var _ broker.Broker = (*BrokerClient)(nil)

func newBrokerClient(c *Client) *BrokerClient {
	return &BrokerClient{
		c:         c,
		subs:      make(map[*subscription]struct{}),
		closeDone: make(chan struct{}),
	}
}

func (b *BrokerClient) err(ctx context.Context, cn *conn, err error) error {
	if b.c.closed.Load() {
		return broker.ErrClosed
	}
	return b.c.callErr(ctx, cn, err, brokerSentinels)
}

// Publish publishes msg to topic and returns once the plugin's broker has
// taken it, with the broker's error. msg is not kept. Concurrent calls share
// one stream to the plugin (see publishMux), which publishes them
// concurrently.
func (b *BrokerClient) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	if b.c.closed.Load() {
		return broker.ErrClosed
	}
	cn, err := b.c.current()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := b.publishMux(cn)
	if err != nil {
		return b.err(ctx, cn, err)
	}
	return b.answerErr(ctx, cn, m.publish(ctx, topic, msg))
}

var _ broker.BatchPublisher = (*BrokerClient)(nil)

// PublishBatch publishes every publication as Publish does, sending the
// calls to the plugin together; the plugin's broker publishes them as a
// batch if it is a broker.BatchPublisher.
func (b *BrokerClient) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	fail := func(err error) {
		for i := range errs {
			errs[i] = err
		}
	}
	if b.c.closed.Load() {
		fail(broker.ErrClosed)
		return
	}
	cn, err := b.c.current()
	if err != nil {
		fail(err)
		return
	}
	if err := ctx.Err(); err != nil {
		fail(err)
		return
	}
	m, err := b.publishMux(cn)
	if err != nil {
		fail(b.err(ctx, cn, err))
		return
	}
	answers := make([]publishAnswer, len(pubs))
	m.publishBatch(ctx, pubs, answers)
	for i, a := range answers {
		errs[i] = b.answerErr(ctx, cn, a)
	}
}

// Subscribe calls h for every message the plugin's broker delivers on topic,
// until Unsubscribe or Close. It returns once the plugin's subscription is
// in place. ctx bounds only the call; h's ctx carries its values.
func (b *BrokerClient) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if b.c.closed.Load() {
		return nil, broker.ErrClosed
	}
	if h == nil {
		return nil, errors.New("plugin: subscribe: nil handler")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cn, err := b.c.current()
	if err != nil {
		return nil, err
	}
	o := broker.NewSubscribeOptions(opts...)
	base := context.WithoutCancel(ctx)
	conc := uint32(min(max(o.Concurrency, 0), math.MaxUint32))
	hctx, cancel := context.WithCancel(base)
	s := &subscription{
		b:           b,
		topic:       topic,
		queue:       o.Queue,
		concurrency: conc,
		h:           h,
		base:        base,
		cn:          cn,
		ctx:         hctx,
		cancel:      cancel,
		inflight:    make(map[delivery]context.CancelFunc),
		done:        make(chan struct{}),
	}
	stream, cancelStream, key, err := b.subscribeStream(ctx, cn, s, 0)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, b.err(ctx, cn, err)
	}
	s.stream, s.cancelStream, s.link = stream, cancelStream, key
	go s.receive()

	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		_ = s.Unsubscribe(ctx)
		return nil, broker.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

// subscribeStream opens a Subscribe stream on cn for s, its gen-th, a
// child of s.base, and returns once the plugin confirms the subscription;
// until then ctx cancels it. When cn has a data link, the deliveries come
// there, under the key it returns (0: on the stream).
func (b *BrokerClient) subscribeStream(ctx context.Context, cn *conn, s *subscription, gen uint64) (pluginpb.Broker_SubscribeClient, context.CancelFunc, uint64, error) {
	sctx, cancelStream := context.WithCancel(s.base)
	stream, err := cn.broker.Subscribe(sctx)
	if err != nil {
		cancelStream()
		return nil, nil, 0, err
	}
	key := cn.data.register(s, gen)
	stop := context.AfterFunc(ctx, cancelStream)
	var resp *pluginpb.SubscribeResponse
	err = stream.Send(&pluginpb.SubscribeRequest{Topic: s.topic, Queue: s.queue, Concurrency: s.concurrency, Link: key})
	if err == nil || err == io.EOF { // io.EOF: the status comes from Recv
		resp, err = stream.Recv()
	}
	if !stop() {
		err = ctx.Err()
	}
	if err == nil && (resp.Id != 0 || resp.Message != nil) {
		err = fmt.Errorf("plugin %s: subscribe: the plugin sent a delivery before confirming the subscription", b.c.name)
	}
	if err != nil {
		cn.data.unregister(key)
		cancelStream()
		return nil, nil, 0, err
	}
	return stream, cancelStream, key, nil
}

func (b *BrokerClient) forget(s *subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
}

// Close unsubscribes every subscription, closes the plugin's broker and
// stops the plugin. It waits for handlers in progress, until ctx is done;
// the plugin is stopped either way. From then on Publish and Subscribe
// return broker.ErrClosed. Closing again waits, until ctx is done, for the
// first Close to finish, and returns nil.
func (b *BrokerClient) Close(ctx context.Context) error {
	b.mu.Lock()
	first := !b.closing
	b.closing = true
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	if !first {
		select {
		case <-b.closeDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(b.closeDone)

	b.c.closed.Store(true)
	b.c.stopSupervisor() // no restart from now on
	for _, s := range subs {
		s.stop()
	}
	var err error
	if cn, cerr := b.c.current(); cerr == nil {
		_, err = cn.broker.Close(ctx, &pluginpb.CloseRequest{})
		if err != nil && b.c.died(ctx, cn, err) {
			err = nil // gone, and so closed
		}
		err = fromStatus(ctx, err, brokerSentinels, b.c.name)
		if errors.Is(err, broker.ErrClosed) {
			err = nil
		}
	}
	for _, s := range subs {
		select {
		case <-s.done:
			continue
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
		break
	}
	b.c.shutdown()
	b.closeMux()
	return err
}

// errUnsubscribed rejects a delivery that reaches the host after
// Unsubscribe, for the plugin's broker to redeliver it elsewhere.
var errUnsubscribed = errors.New("plugin: delivered after unsubscribe")

// resubscribeRetry is the wait before subscribing again on a plugin process
// that refused it (the process died, by contrast, is waited for).
const resubscribeRetry = time.Second

// delivery identifies a delivery: the stream it came on (see
// subscription.gen) and its ID on that stream.
type delivery struct{ gen, id uint64 }

// subscription is the host side of one subscription: one Subscribe stream
// at a time, a new one after the plugin process restarts.
type subscription struct {
	b     *BrokerClient
	topic string
	queue string
	// concurrency is broker.Concurrency, passed on to the plugin.
	concurrency uint32
	h           broker.Handler
	base        context.Context // the values of Subscribe's ctx: the parent of the streams

	// ctx is the parent of the handlers' contexts; cancel ends them all.
	ctx    context.Context
	cancel context.CancelFunc

	// sendMu allows one Send at a time, and guards the stream and what
	// goes with it, which change when the plugin restarts.
	sendMu       sync.Mutex
	stream       pluginpb.Broker_SubscribeClient
	cancelStream context.CancelFunc
	cn           *conn  // the connection of the stream
	gen          uint64 // counts the streams
	link         uint64 // the stream's key on cn's data link; 0: none

	mu       sync.Mutex
	stopping bool                            // no more handler calls
	inflight map[delivery]context.CancelFunc // handlers in progress
	handlers sync.WaitGroup
	pool     gopool.Pool // runs the handler calls

	stopOnce sync.Once
	done     chan struct{} // closed once the stream ended and handlers returned
	err      error         // the plugin's Unsubscribe error; set before done
}

// Topic returns the subscribed topic.
func (s *subscription) Topic() string { return s.topic }

// Unsubscribe stops deliveries, cancels the handlers' ctx and waits, until
// ctx is done, for the handlers in progress to return and the plugin's
// broker to end the subscription. Unsubscribing again, or after Close,
// waits likewise and returns nil.
func (s *subscription) Unsubscribe(ctx context.Context) error {
	first := false
	s.stopOnce.Do(func() {
		first = true
		s.stopLocked()
	})
	select {
	case <-s.done:
		if first {
			return s.err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop starts unsubscribing without waiting.
func (s *subscription) stop() {
	s.stopOnce.Do(s.stopLocked)
}

func (s *subscription) stopLocked() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.cancel()
	// The plugin unsubscribes and ends the stream once its broker's
	// Unsubscribe returns; receive sees the end. If the stream is broken
	// already, receive sees that too.
	s.sendMu.Lock()
	_ = s.stream.Send(&pluginpb.SubscribeRequest{Unsubscribe: true})
	s.sendMu.Unlock()
}

func (s *subscription) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// receive reads deliveries and cancellations until the subscription ends,
// subscribing again when the plugin process restarts.
func (s *subscription) receive() {
	var (
		err      error
		replaced bool // stopped while waiting to subscribe again
	)
	for {
		s.sendMu.Lock()
		stream, gen, cn, key := s.stream, s.gen, s.cn, s.link
		s.sendMu.Unlock()
		err = s.pump(stream, gen)
		// The plugin's side has ended: no delivery comes on the link.
		cn.data.unregister(key)
		if err == io.EOF || s.b.c.closed.Load() || s.isStopping() || !s.b.c.died(context.Background(), cn, err) {
			break
		}
		s.abandon(gen)
		s.b.c.log.Warn("plugin subscription lost with the plugin process; it subscribes again once the plugin is back", "topic", s.topic)
		if !s.resubscribe(cn) {
			replaced = true
			break
		}
		s.b.c.log.Info("plugin subscription back", "topic", s.topic)
	}

	s.mu.Lock()
	stopping := s.stopping
	s.stopping = true
	s.mu.Unlock()
	s.cancel()
	s.handlers.Wait()
	s.pool.Close()
	s.sendMu.Lock()
	s.cancelStream()
	cn := s.cn
	s.sendMu.Unlock()
	closed := s.b.c.closed.Load()
	switch {
	case err == io.EOF || closed || replaced:
	case stopping:
		s.err = s.b.err(context.Background(), cn, err)
	default:
		s.b.c.log.Warn("plugin subscription ended", "topic", s.topic, "error", s.b.err(context.Background(), cn, err))
	}
	s.b.forget(s)
	close(s.done)
}

// pump reads the deliveries and cancellations of stream, the gen-th,
// until it ends, and returns its error.
func (s *subscription) pump(stream pluginpb.Broker_SubscribeClient, gen uint64) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		switch {
		case resp.Cancel:
			s.cancelDelivery(gen, resp.Id)
		case resp.Id != 0 && resp.Message != nil:
			s.dispatch(gen, resp.Id, resp.Message)
		}
	}
}

// cancelDelivery cancels the handler's ctx of delivery id of the gen-th
// stream, if it is in progress.
func (s *subscription) cancelDelivery(gen, id uint64) {
	s.mu.Lock()
	if cancel := s.inflight[delivery{gen, id}]; cancel != nil {
		cancel()
	}
	s.mu.Unlock()
}

// abandon cancels the handlers of the deliveries of the gen-th stream,
// which died with the plugin process.
func (s *subscription) abandon(gen uint64) {
	s.mu.Lock()
	for d, cancel := range s.inflight {
		if d.gen == gen {
			cancel()
		}
	}
	s.mu.Unlock()
}

// resubscribe waits for the Client to have a live connection other than
// dead, and subscribes on it, until it succeeds (true) or the subscription
// stops (false).
func (s *subscription) resubscribe(dead *conn) bool {
	for {
		cn, changed := s.b.c.watchConn()
		if cn == dead || cn.down != nil {
			select {
			case <-changed:
				continue
			case <-s.ctx.Done():
				return false
			}
		}
		s.sendMu.Lock()
		gen := s.gen + 1 // only receive, which runs this, changes it
		s.sendMu.Unlock()
		stream, cancelStream, key, err := s.b.subscribeStream(s.ctx, cn, s, gen)
		if err == nil {
			s.sendMu.Lock()
			s.cancelStream()
			s.stream, s.cancelStream, s.cn, s.link = stream, cancelStream, cn, key
			s.gen = gen
			s.sendMu.Unlock()
			// Unsubscribe may have come meanwhile, and sent its
			// request on the old stream: send it on this one.
			if s.isStopping() {
				s.sendMu.Lock()
				_ = stream.Send(&pluginpb.SubscribeRequest{Unsubscribe: true})
				s.sendMu.Unlock()
			}
			return true
		}
		if s.ctx.Err() != nil {
			return false
		}
		if s.b.c.died(s.ctx, cn, err) {
			dead = cn
			continue
		}
		s.b.c.log.Error("plugin subscription: subscribing again failed; trying again", "topic", s.topic, "error", s.b.err(s.ctx, cn, err), "retry_in", resubscribeRetry)
		dead = nil
		t := time.NewTimer(resubscribeRetry)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// dispatch runs the handler for a delivery that came on the stream, and
// answers on the stream.
func (s *subscription) dispatch(gen, id uint64, m *pluginpb.Message) {
	s.run(delivery{gen, id}, messageFromPB(m), s.answer)
}

// dispatchLink is dispatch for a delivery that came on data link data
// under key: its answer goes back there, whatever happened to the stream
// meanwhile (a delivery of a new stream may come before the stream is in
// place).
func (s *subscription) dispatchLink(data *hostData, key, gen, id uint64, m *broker.Message) {
	s.run(delivery{gen, id}, m, func(d delivery, err error) {
		a := &pluginpb.Answer{Sub: key, Id: d.id}
		if err != nil {
			a.Reject, a.Error = true, err.Error()
		}
		data.answers.Add(a)
	})
}

// run calls the handler for delivery d on a goroutine of its own (one of
// the subscription's pool, which stays for the next delivery), so that
// cancellations keep arriving, and a broker that calls handlers
// concurrently keeps doing so; answer sends its result.
func (s *subscription) run(d delivery, m *broker.Message, answer func(delivery, error)) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		answer(d, errUnsubscribed)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.inflight[d] = cancel
	s.handlers.Add(1)
	s.mu.Unlock()
	s.pool.Go(func() {
		defer s.handlers.Done()
		err := brokerutil.Call(ctx, "plugin", s.h, m)
		s.mu.Lock()
		delete(s.inflight, d)
		s.mu.Unlock()
		cancel()
		answer(d, err)
	})
}

// answer sends the handler's result for delivery d, on the stream it came
// on: if that stream was replaced, the answer has nowhere to go.
func (s *subscription) answer(d delivery, err error) {
	req := &pluginpb.SubscribeRequest{Id: d.id}
	if err != nil {
		req.Reject = true
		req.Error = err.Error()
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if d.gen == s.gen {
		_ = s.stream.Send(req) // a broken stream ends receive, which cleans up
	}
}

// Publisher publishes messages over one stream to the plugin, without
// waiting for each to be taken: the fast path for many messages. Make one
// with BrokerClient.NewPublisher. A Publisher is not safe for concurrent
// use; use one per goroutine.
//
// The plugin publishes the messages in order and stops at the first one its
// broker fails to publish: Publish and Close then return that error. The
// messages before it were published; it and those after were not.
type Publisher struct {
	b      *BrokerClient
	cn     *conn
	stream pluginpb.Broker_PublishStreamClient
	ctx    context.Context // the ctx given to NewPublisher
	cancel context.CancelFunc

	// One request and message, reused: the stream marshals them in Send.
	req pluginpb.PublishRequest
	msg pluginpb.Message

	sent   uint64
	err    error
	closed bool
}

// errPublisherClosed is returned by Publish after Close.
var errPublisherClosed = errors.New("plugin: publisher closed")

// NewPublisher opens a publishing stream. ctx bounds the stream's life:
// once it is done, Publish and Close fail. Close the Publisher to learn
// whether every message was published, and to release the stream.
func (b *BrokerClient) NewPublisher(ctx context.Context) (*Publisher, error) {
	if b.c.closed.Load() {
		return nil, broker.ErrClosed
	}
	cn, err := b.c.current()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := cn.broker.PublishStream(sctx)
	if err != nil {
		cancel()
		return nil, b.err(ctx, cn, err)
	}
	return &Publisher{b: b, cn: cn, stream: stream, ctx: ctx, cancel: cancel}, nil
}

// Publish sends msg to be published to topic, and returns once it is on its
// way. msg is not kept. An error means that the stream has ended: this
// message and every later one are not published.
func (p *Publisher) Publish(topic string, msg *broker.Message) error {
	if p.err != nil {
		return p.err
	}
	if p.closed {
		return errPublisherClosed
	}
	if p.b.c.closed.Load() {
		p.fail(broker.ErrClosed)
		return p.err
	}
	p.req.Topic = topic
	p.req.Message = nil
	if msg != nil {
		p.msg.Id, p.msg.Header, p.msg.Body = msg.ID, msg.Header, msg.Body
		p.req.Message = &p.msg
	}
	err := p.stream.Send(&p.req)
	p.msg.Header, p.msg.Body = nil, nil
	if err != nil {
		if err == io.EOF { // the plugin ended the stream: its status says why
			_, err = p.stream.CloseAndRecv()
		}
		p.fail(p.b.err(p.ctx, p.cn, err))
		return p.err
	}
	p.sent++
	return nil
}

func (p *Publisher) fail(err error) {
	p.err = err
	p.cancel()
}

// Close waits until the plugin has published every message sent, and
// returns the first error, if any. It releases the stream. Closing again
// returns the same.
func (p *Publisher) Close() error {
	if p.closed || p.err != nil {
		p.closed = true
		p.cancel()
		return p.err
	}
	p.closed = true
	resp, err := p.stream.CloseAndRecv()
	p.cancel()
	switch {
	case err != nil:
		p.err = p.b.err(p.ctx, p.cn, err)
	case resp.Published != p.sent:
		p.err = fmt.Errorf("plugin %s: publish stream: the plugin published %d of %d messages", p.b.c.name, resp.Published, p.sent)
	}
	return p.err
}
