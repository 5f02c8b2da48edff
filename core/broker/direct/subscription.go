package direct

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/transport"
)

// Subscribe calls h for every message published to topic, by any broker
// that shares the registry, until the subscription is unsubscribed or the
// broker closed. With broker.Queue it joins that queue group: the group's
// members, in any process, share its messages. The first Subscribe starts
// the broker's server.
//
// Subscribe returns once the subscription is registered: from then on every
// Publish to topic through this broker reaches it, and a Publish through
// another broker does once that broker's cache has seen the registration
// (see the package documentation). ctx bounds the call only; the package
// documentation says when the ctx a handler gets ends.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	switch {
	case topic == "":
		return nil, errors.New("direct: subscribe: empty topic")
	case h == nil:
		return nil, errors.New("direct: subscribe: nil handler")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := broker.NewSubscribeOptions(opts...)
	addr, err := b.start(ctx)
	if err != nil {
		return nil, err
	}

	s := &subscription{b: b, id: newSubscriptionID(), topic: topic, h: h, idle: make(chan struct{})}
	if o.Concurrency > 0 {
		s.sem = make(chan struct{}, o.Concurrency)
	}
	s.kill, s.cancel = context.WithCancel(context.Background())
	s.svc = &registry.Service{
		Name:    ServiceName(topic),
		Version: protocolVersion,
		Nodes: []*registry.Node{{
			ID:       s.id,
			Address:  addr,
			Metadata: map[string]string{metaTopic: topic, metaQueue: o.Queue},
		}},
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, broker.ErrClosed
	}
	b.subs[s.id] = s
	b.mu.Unlock()

	if err := s.register(ctx); err != nil {
		s.stop()
		if errors.Is(err, errStopped) {
			return nil, broker.ErrClosed // Close came first
		}
		// The registration may have been written before the error.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
		_ = s.deregister(dctx)
		cancel()
		return nil, fmt.Errorf("direct: subscribe to %q: register: %w", topic, err)
	}
	return s, nil
}

func newSubscriptionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start starts the server unless it runs, and returns its address.
func (b *Broker) start(ctx context.Context) (string, error) {
	b.startMu.Lock()
	defer b.startMu.Unlock()
	b.mu.RLock()
	addr, closed := b.addr, b.closed
	b.mu.RUnlock()
	if closed {
		return "", broker.ErrClosed
	}
	if addr != "" {
		return addr, nil
	}
	l, err := b.cfg.transport.Listen(ctx, b.cfg.address)
	if err != nil {
		return "", fmt.Errorf("direct: listen on %s: %w", b.cfg.address, err)
	}
	srv := transport.NewServer(b.handle)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		l.Close()
		return "", broker.ErrClosed
	}
	b.srv, b.addr = srv, l.Addr().String()
	b.wg.Add(2)
	b.mu.Unlock()
	go b.serve(srv, l)
	go b.refresh()
	return l.Addr().String(), nil
}

func (b *Broker) serve(srv *transport.Server, l net.Listener) {
	defer b.wg.Done()
	if err := srv.Serve(l); err != nil && !errors.Is(err, transport.ErrServerClosed) {
		b.log.Error("server stopped; subscriptions are unreachable", "addr", l.Addr().String(), "err", err)
	}
}

// refresh renews the registrations every third of their TTL until Close.
func (b *Broker) refresh() {
	defer b.wg.Done()
	every := max(b.cfg.ttl/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.life.Done():
			return
		case <-t.C:
		}
		b.mu.RLock()
		subs := make([]*subscription, 0, len(b.subs))
		for _, s := range b.subs {
			subs = append(subs, s)
		}
		b.mu.RUnlock()
		for _, s := range subs {
			ctx, cancel := context.WithTimeout(b.life, every)
			err := s.register(ctx)
			cancel()
			if err != nil && !errors.Is(err, errStopped) && b.life.Err() == nil {
				b.log.Warn("renewing a registration failed", "topic", s.topic, "subscription", s.id, "err", err)
			}
		}
	}
}

// handle answers a delivery frame by running the subscription's handler.
func (b *Broker) handle(ctx context.Context, req *transport.Frame) *transport.Frame {
	if req.Endpoint != deliverEndpoint {
		return errorFrame(merrors.Unimplemented, "direct: unknown endpoint "+req.Endpoint)
	}
	b.mu.RLock()
	s := b.subs[req.Service]
	b.mu.RUnlock()
	if s == nil {
		return errorFrame(merrors.NotFound, "direct: no subscription "+req.Service)
	}
	if s.sem != nil {
		// broker.Concurrency: wait for a turn. A delivery waiting here is
		// not yet a handler call, so Unsubscribe does not wait for it; once
		// it has its turn, enter turns it away if the subscription ended.
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		case <-ctx.Done():
			return errorFrame(merrors.Aborted, "direct: delivery ended while waiting for a free handler: "+context.Cause(ctx).Error())
		case <-s.kill.Done():
			return errorFrame(merrors.NotFound, "direct: no subscription "+req.Service)
		}
	}
	if !s.enter() {
		return errorFrame(merrors.NotFound, "direct: no subscription "+req.Service)
	}
	defer s.leave()
	msg, err := decodeMessage(req)
	if err != nil {
		return errorFrame(merrors.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.kill, cancel)()
	if err := s.call(ctx, msg); err != nil {
		return errorFrame(merrors.Aborted, err.Error())
	}
	return &transport.Frame{}
}

func errorFrame(code merrors.Code, msg string) *transport.Frame {
	return &transport.Frame{Code: uint32(code), Message: msg}
}

// errStopped is returned by register for a subscription that ended.
var errStopped = errors.New("direct: subscription ended")

// subscription is one Subscribe. Its registration is guarded by regMu, so
// that a renewal never follows the deregistration; its handler calls are
// counted under mu, so that Unsubscribe can wait for them.
type subscription struct {
	b     *Broker
	id    string
	topic string
	h     broker.Handler
	svc   *registry.Service
	// sem bounds the handler calls in progress to broker.Concurrency;
	// nil without it, for no bound.
	sem chan struct{}

	// kill is cancelled when Unsubscribe or Close stop waiting for the
	// handlers; their contexts end with it.
	kill   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	stopped bool
	running int
	idle    chan struct{} // closed once stopped with no handler running

	regMu        sync.Mutex
	deregistered bool
}

// Topic returns the subscribed topic.
func (s *subscription) Topic() string { return s.topic }

// Unsubscribe stops deliveries, removes the subscription from the registry
// and waits for handlers in progress to return. If ctx ends first, it
// cancels their contexts and returns ctx's error; calling it again waits
// again. Unsubscribing twice is harmless.
func (s *subscription) Unsubscribe(ctx context.Context) error {
	s.stop()
	err := s.deregister(ctx)
	if werr := s.wait(ctx); werr != nil {
		err = errors.Join(err, fmt.Errorf("direct: unsubscribe from %q: handlers still running: %w", s.topic, werr))
	}
	return err
}

// stop refuses further deliveries.
func (s *subscription) stop() {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		if s.running == 0 {
			close(s.idle)
		}
	}
	s.mu.Unlock()
	s.b.mu.Lock()
	if s.b.subs[s.id] == s {
		delete(s.b.subs, s.id)
	}
	s.b.mu.Unlock()
}

// enter counts a handler call about to start; it reports false once the
// subscription stopped.
func (s *subscription) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.running++
	return true
}

func (s *subscription) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	if s.stopped && s.running == 0 {
		close(s.idle)
	}
}

// wait waits until no handler runs, or until ctx ends; then it cancels the
// handlers' contexts.
func (s *subscription) wait(ctx context.Context) error {
	select {
	case <-s.idle:
		s.cancel()
		return nil
	default:
	}
	select {
	case <-s.idle:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
}

// register registers (or renews) the subscription unless it stopped.
func (s *subscription) register(ctx context.Context) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return errStopped
	}
	return s.b.cache.Register(ctx, s.svc, s.b.cfg.ttl)
}

func (s *subscription) deregister(ctx context.Context) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.deregistered {
		return nil
	}
	if err := s.b.cache.Deregister(ctx, s.svc); err != nil {
		return fmt.Errorf("direct: unsubscribe from %q: deregister: %w", s.topic, err)
	}
	s.deregistered = true
	return nil
}

// call runs the handler, turning a panic into a rejection that it logs.
func (s *subscription) call(ctx context.Context, msg *broker.Message) error {
	err := brokerutil.Call(ctx, "direct", s.h, msg)
	if p, ok := err.(*brokerutil.PanicError); ok {
		s.b.log.Error("handler panicked", "topic", s.topic, "id", msg.ID, "panic", p.Value, "stack", string(p.Stack))
	}
	return err
}
