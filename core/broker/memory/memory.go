// Package memory is an in-process broker.Broker: messages travel between
// goroutines of one process and are never written anywhere.
//
// # Delivery
//
// Topics match exactly: there are no wildcards, and "a.b" and "a.*" are two
// unrelated topics. A message published to a topic without subscribers is
// discarded.
//
// Every subscription owns a bounded queue and a goroutine that calls its
// handler, one message at a time. Publish copies the message into the queue
// of every subscription of the topic and returns; handlers run later, so a
// slow handler never holds up the publisher or other subscriptions while its
// queue has room. Each handler call receives its own copy of the message,
// which the handler may modify or keep.
//
// Subscribers that share a queue group (broker.Queue) on a topic share one
// queue, and each message goes to whichever member is free first. A group's
// queue lives as long as the group has members: when the last member
// unsubscribes, the messages still waiting in it are discarded.
//
// # Concurrency
//
// With broker.Concurrency(n), n > 1, a subscription has n goroutines taking
// messages from its queue instead of one, so up to n calls of its handler run
// at once and messages may be handled out of order; 0 and 1 mean one
// goroutine. In a queue group each member brings its own n: a group of two
// members subscribed with Concurrency(4) and Concurrency(1) runs up to five
// handler calls at once. The queue's capacity (WithQueueSize) is unchanged
// and counts the messages being handled, so n larger than it buys nothing.
//
// # Back-pressure
//
// A queue holds at most WithQueueSize messages, counting the ones waiting,
// the one being handled and the ones waiting for redelivery. When a queue of
// the topic is full, Publish blocks until it has room, the ctx given to
// Publish is done, or the broker is closed; nothing is dropped silently.
// Publish is all or nothing: it delivers the message to every subscription of
// the topic, or, when it returns an error, to none of them. A handler that
// publishes to its own topic can therefore wait on itself when its queue is
// full; give such a Publish a deadline.
//
// # Acknowledgement and redelivery
//
// A handler that returns nil acknowledges the message. A handler that returns
// an error, or panics, rejects it: after WithRedeliveryDelay the message goes
// back to the end of its queue (for a queue group, to any member). After
// WithMaxDeliveries attempts the message is dropped and, when one is set,
// handed to the WithDeadLetter function. Every delivery carries its attempt
// number in the header broker.DeliveryHeader ("1", "2", ...).
//
// # Unsubscribe and Close
//
// The ctx a handler receives carries the values of the ctx given to
// Subscribe, but not its deadline; it is cancelled when the subscription is
// unsubscribed or the broker is closed. Unsubscribe stops deliveries, cancels
// that ctx and waits for the handler calls in progress to return. Close does that
// for every subscription, and from then on Publish and Subscribe return
// broker.ErrClosed.
package memory

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// Defaults for the options.
const (
	// DefaultQueueSize is the capacity of a subscription's queue.
	DefaultQueueSize = 1024
	// DefaultRedeliveryDelay is the wait before a rejected message is
	// delivered again.
	DefaultRedeliveryDelay = 100 * time.Millisecond
	// DefaultMaxDeliveries is how many times a message is delivered before
	// it is dead-lettered.
	DefaultMaxDeliveries = 5
)

var _ broker.Broker = (*Broker)(nil)

// Broker is an in-process broker. Create one with New; it is safe for
// concurrent use. Close it to stop its goroutines.
type Broker struct {
	cfg config

	ids brokerutil.IDs

	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu     sync.RWMutex
	closed bool
	topics map[string]*subscribers
	subs   map[*subscription]struct{}
}

type config struct {
	queueSize       int
	redeliveryDelay time.Duration
	maxDeliveries   int
	deadLetter      func(topic string, msg *broker.Message, err error)
}

// Option configures a Broker.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithQueueSize sets how many messages each subscription (or queue group)
// holds before Publish blocks: waiting, being handled and waiting for
// redelivery together. n <= 0 selects DefaultQueueSize.
func WithQueueSize(n int) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			n = DefaultQueueSize
		}
		c.queueSize = n
	})
}

// WithRedeliveryDelay sets how long a rejected message waits before it is
// delivered again. d <= 0 redelivers at once.
func WithRedeliveryDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.redeliveryDelay = max(d, 0) })
}

// WithMaxDeliveries sets how many times a message is delivered to a
// subscription (or queue group) before it is given up on and dead-lettered.
// n <= 0 means no limit: a rejected message is redelivered until it is
// acknowledged or its subscription ends.
func WithMaxDeliveries(n int) Option {
	return optionFunc(func(c *config) { c.maxDeliveries = max(n, 0) })
}

// WithDeadLetter sets a function that receives every message given up on
// after WithMaxDeliveries attempts, with the error of the last attempt. It
// runs on the goroutine of the subscription that gave up, so it holds up that
// goroutine's deliveries (with broker.Concurrency(1), the subscription's)
// while it runs, and Unsubscribe waits for it. The
// message is a copy that f may keep. Without it such messages are dropped.
func WithDeadLetter(f func(topic string, msg *broker.Message, err error)) Option {
	return optionFunc(func(c *config) { c.deadLetter = f })
}

// New returns a broker configured by opts.
func New(opts ...Option) *Broker {
	cfg := config{
		queueSize:       DefaultQueueSize,
		redeliveryDelay: DefaultRedeliveryDelay,
		maxDeliveries:   DefaultMaxDeliveries,
	}
	for _, opt := range opts {
		opt.apply(&cfg)
	}
	b := &Broker{
		cfg:    cfg,
		done:   make(chan struct{}),
		topics: make(map[string]*subscribers),
		subs:   make(map[*subscription]struct{}),
	}
	return b
}

// subscribers is the set of queues subscribed to one topic.
type subscribers struct {
	queues []*queue          // replaced, never modified, so Publish can read a snapshot
	groups map[string]*queue // queue groups by name
}

// queue holds the messages of one subscription or queue group.
//
// A message holds one of the slots from the moment Publish puts it in until
// it is acknowledged or dropped, so ready, which has as much room as there
// are slots, never fills up and sends to it never block.
type queue struct {
	topic   string
	group   string
	slots   chan struct{}
	ready   chan *delivery
	done    chan struct{} // closed when the last member leaves
	members int           // guarded by Broker.mu
}

func newQueue(topic, group string, size int) *queue {
	return &queue{
		topic: topic,
		group: group,
		slots: make(chan struct{}, size),
		ready: make(chan *delivery, size),
		done:  make(chan struct{}),
	}
}

// put adds d, which holds a slot, to the ready messages.
func (q *queue) put(d *delivery) {
	select {
	case q.ready <- d:
	default:
		// Unreachable while d holds a slot; a message is never dropped here.
		panic("broker/memory: queue overflow")
	}
}

// release frees the slot of a message that has left the queue.
func (q *queue) release() { <-q.slots }

// envelope is the broker's own copy of a published message, shared by its
// deliveries and never modified.
type envelope struct {
	id     string
	header map[string]string
	body   []byte
}

// delivery is one envelope on its way through one queue.
type delivery struct {
	env      *envelope
	q        *queue
	attempts int
}

// message returns a copy of the envelope for the current attempt.
func (d *delivery) message() *broker.Message {
	h := make(map[string]string, len(d.env.header)+1)
	maps.Copy(h, d.env.header)
	h[broker.DeliveryHeader] = strconv.Itoa(d.attempts)
	return &broker.Message{ID: d.env.id, Header: h, Body: bytes.Clone(d.env.body)}
}

// Publish sends a copy of msg to every subscription of topic and returns once
// it is queued; msg itself is not modified or kept, so the caller may reuse
// it. When msg.ID is empty the copies get a new unique ID.
//
// When a queue of the topic is full, Publish waits for room until ctx is
// done; it then returns ctx.Err() and has delivered the message nowhere.
// On a closed broker it returns broker.ErrClosed.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	if topic == "" {
		return errors.New("broker/memory: publish: empty topic")
	}
	if msg == nil {
		return errors.New("broker/memory: publish: nil message")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return broker.ErrClosed
	}
	var queues []*queue
	if t := b.topics[topic]; t != nil {
		queues = t.queues
	}
	b.mu.RUnlock()
	if len(queues) == 0 {
		return nil
	}

	env := &envelope{id: msg.ID, header: maps.Clone(msg.Header), body: bytes.Clone(msg.Body)}
	if env.id == "" {
		env.id = b.ids.New()
	}

	// Take a slot in every queue first, so that the message goes to all of
	// them or, if ctx ends or the broker closes meanwhile, to none.
	var ended map[int]bool // queues whose subscription ended meanwhile; rare
	for i, q := range queues {
		select {
		case q.slots <- struct{}{}:
			continue
		default:
		}
		var err error
		select {
		case q.slots <- struct{}{}:
		case <-q.done:
			if ended == nil {
				ended = make(map[int]bool)
			}
			ended[i] = true
		case <-ctx.Done():
			err = ctx.Err()
		case <-b.done:
			err = broker.ErrClosed
		}
		if err != nil {
			for j, q := range queues[:i] {
				if !ended[j] {
					q.release()
				}
			}
			return err
		}
	}
	for i, q := range queues {
		if !ended[i] {
			q.put(&delivery{env: env, q: q})
		}
	}
	return nil
}

// Subscribe calls h for every message published to topic until the
// subscription is unsubscribed or the broker closed. With broker.Queue it
// joins a queue group. ctx bounds only the call itself; the handler's ctx
// carries its values.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if topic == "" {
		return nil, errors.New("broker/memory: subscribe: empty topic")
	}
	if h == nil {
		return nil, errors.New("broker/memory: subscribe: nil handler")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := broker.NewSubscribeOptions(opts...)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, broker.ErrClosed
	}
	t := b.topics[topic]
	if t == nil {
		t = &subscribers{groups: make(map[string]*queue)}
		b.topics[topic] = t
	}
	q := t.groups[o.Queue]
	if q == nil || o.Queue == "" {
		q = newQueue(topic, o.Queue, b.cfg.queueSize)
		t.queues = append(slices.Clip(t.queues), q)
		if o.Queue != "" {
			t.groups[o.Queue] = q
		}
	}
	q.members++

	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{b: b, q: q, h: h, ctx: hctx, cancel: cancel, exited: make(chan struct{})}
	b.subs[s] = struct{}{}
	workers := max(o.Concurrency, 1)
	b.wg.Go(func() {
		defer close(s.exited)
		if workers == 1 {
			s.run()
			return
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(s.run)
		}
		wg.Wait()
	})
	return s, nil
}

// Close unsubscribes every subscription, waiting for handlers in progress
// until ctx is done, and makes Publish and Subscribe return
// broker.ErrClosed. Publish calls waiting for room return broker.ErrClosed at
// once. Close may be called again, for instance after ctx ended, to wait
// again.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	var subs []*subscription
	if !b.closed {
		b.closed = true
		close(b.done)
		for s := range b.subs {
			subs = append(subs, s)
		}
		clear(b.subs)
		b.topics = nil
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.cancel()
	}

	return brokerutil.Wait(ctx, &b.wg)
}

// subscription is one member of a queue: one goroutine calling a handler, or
// broker.Concurrency of them.
type subscription struct {
	b      *Broker
	q      *queue
	h      broker.Handler
	ctx    context.Context // the handlers' ctx
	cancel context.CancelFunc
	exited chan struct{} // closed once every goroutine of s has returned
}

// Topic returns the subscribed topic.
func (s *subscription) Topic() string { return s.q.topic }

// Unsubscribe stops deliveries, cancels the handler's ctx and waits until
// the handler calls in progress, if any, return or ctx is done. Unsubscribing
// again, or after Close, returns nil once the handler has returned.
func (s *subscription) Unsubscribe(ctx context.Context) error {
	s.b.leave(s)
	s.cancel()
	select {
	case <-s.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave removes s from its queue, and the queue from its topic when s was
// its last member.
func (b *Broker) leave(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; !ok {
		return // already left, or the broker is closed
	}
	delete(b.subs, s)
	q := s.q
	if q.members--; q.members > 0 {
		return
	}
	close(q.done)
	t := b.topics[q.topic]
	t.queues = slices.DeleteFunc(slices.Clone(t.queues), func(x *queue) bool { return x == q })
	if q.group != "" {
		delete(t.groups, q.group)
	}
	if len(t.queues) == 0 {
		delete(b.topics, q.topic)
	}
}

// run takes messages from the queue and handles them until s ends; a
// subscription with broker.Concurrency(n) runs it on n goroutines.
func (s *subscription) run() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.q.ready:
			if s.ctx.Err() != nil {
				s.q.put(d) // for another member of the group, if any
				return
			}
			s.handle(d)
		}
	}
}

// handle makes one delivery attempt of d.
func (s *subscription) handle(d *delivery) {
	d.attempts++
	err := brokerutil.Call(s.ctx, "broker/memory", s.h, d.message())
	if err == nil {
		d.q.release()
		return
	}
	cfg := &s.b.cfg
	if cfg.maxDeliveries > 0 && d.attempts >= cfg.maxDeliveries {
		d.q.release()
		if cfg.deadLetter != nil {
			cfg.deadLetter(d.q.topic, d.message(), err)
		}
		return
	}
	if cfg.redeliveryDelay <= 0 {
		d.q.put(d)
		return
	}
	time.AfterFunc(cfg.redeliveryDelay, func() { d.q.put(d) })
}
