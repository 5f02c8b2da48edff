package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// Subscribe calls h for every message published to topic until the
// subscription is unsubscribed or the broker closed. With broker.Queue it
// joins a queue group, whose durable queue it declares when it does not
// exist. Subscribe returns once the subscription consumes, so a message
// published after it returns reaches it. ctx bounds only the call itself;
// the handler's ctx carries its values. With broker.Concurrency(n), n > 1,
// up to n handler calls run at once, and the subscription may hold
// max(Config.Prefetch, n) messages unacknowledged.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if err := checkTopic(topic); err != nil {
		return nil, fmt.Errorf("broker/rabbitmq: subscribe: %w", err)
	}
	if h == nil {
		return nil, errors.New("broker/rabbitmq: subscribe: nil handler")
	}
	if b.isClosed() {
		return nil, broker.ErrClosed
	}
	o := broker.NewSubscribeOptions(opts...)
	if err := b.sub.start(ctx); err != nil {
		if errors.Is(err, broker.ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("broker/rabbitmq: subscribe to %q: %w", topic, err)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{
		b:       b,
		topic:   topic,
		group:   o.Queue,
		h:       h,
		workers: min(max(o.Concurrency, 1), maxPrefetch),
		ctx:     hctx,
		cancel:  cancel,
		stopped: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if s.group != "" {
		s.queue = QueueName(b.cfg.Exchange, topic, s.group)
	}
	ch, deliveries, err := s.open(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	if !b.subs.Add(s, 1) {
		ch.Close()
		cancel()
		return nil, broker.ErrClosed
	}
	go s.run(ch, deliveries)
	return s, nil
}

// subscription consumes one queue on a channel of its own, and restores
// both when they are lost.
type subscription struct {
	b     *Broker
	topic string
	group string
	queue string // the group's durable queue; "" for an exclusive queue
	h     broker.Handler
	// workers is how many handler calls run at once (broker.Concurrency),
	// each in a goroutine of its own receiving from the same deliveries.
	workers int

	ctx      context.Context // the handlers' ctx
	cancel   context.CancelFunc
	stopOnce sync.Once
	stopped  chan struct{} // closed by stop
	exited   chan struct{} // closed when run returns

	// fails counts the rejections of the messages in an exclusive queue,
	// by failureKey. The workers share it under failsMu.
	failsMu sync.Mutex
	fails   map[string]int
}

// Topic returns the subscribed topic.
func (s *subscription) Topic() string { return s.topic }

// Unsubscribe stops deliveries, cancels the handler's ctx and waits until
// the handler calls in progress, if any, return or ctx is done; the messages
// delivered ahead of the handler go back to the queue. A queue group's
// queue stays, with the messages its members have not acknowledged.
// Unsubscribing again, or after Close, returns nil once the handler has
// returned.
func (s *subscription) Unsubscribe(ctx context.Context) error {
	s.stop()
	s.b.subs.Remove(s)
	select {
	case <-s.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *subscription) stop() {
	s.stopOnce.Do(func() {
		close(s.stopped)
		s.cancel()
	})
}

func (s *subscription) isStopped() bool {
	select {
	case <-s.stopped:
		return true
	default:
		return false
	}
}

// open sets up the subscription on the consumer connection, waiting for the
// connection until ctx is done.
func (s *subscription) open(ctx context.Context) (*amqp.Channel, <-chan amqp.Delivery, error) {
	for {
		conn, err := s.b.sub.get(ctx)
		if err != nil {
			return nil, nil, err
		}
		ch, deliveries, err := s.setup(conn)
		if err == nil {
			return ch, deliveries, nil
		}
		if !conn.IsClosed() {
			return nil, nil, err
		}
		// The connection was lost meanwhile: wait for the next one.
	}
}

// setup opens a channel on conn, declares the exchanges, the queue and its
// binding, and starts consuming.
func (s *subscription) setup(conn *amqp.Connection) (*amqp.Channel, <-chan amqp.Delivery, error) {
	cfg := &s.b.cfg
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("broker/rabbitmq: subscribe to %q: open channel: %w", s.topic, err)
	}
	fail := func(err error) (*amqp.Channel, <-chan amqp.Delivery, error) {
		ch.Close()
		return nil, nil, fmt.Errorf("broker/rabbitmq: subscribe to %q: %w", s.topic, err)
	}
	if err := s.b.declareExchanges(ch); err != nil {
		return fail(err)
	}
	if err := ch.Qos(max(cfg.Prefetch, s.workers), 0, false); err != nil {
		return fail(fmt.Errorf("set prefetch: %w", err))
	}
	name := s.queue
	if name != "" {
		args := amqp.Table{"x-queue-type": "quorum"}
		if cfg.deadLettering() {
			args["x-delivery-limit"] = int64(cfg.MaxDeliveries - 1)
			args["x-dead-letter-exchange"] = cfg.deadLetterExchange()
		}
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			var aerr *amqp.Error
			if errors.As(err, &aerr) && aerr.Code == amqp.PreconditionFailed {
				return fail(fmt.Errorf("declare queue %q: %w (the queue exists with other arguments, such as another MaxDeliveries: delete it, or subscribe with the settings it was declared with)", name, err))
			}
			return fail(fmt.Errorf("declare queue %q: %w", name, err))
		}
	} else {
		var args amqp.Table
		if cfg.deadLettering() {
			args = amqp.Table{"x-dead-letter-exchange": cfg.deadLetterExchange()}
		}
		q, err := ch.QueueDeclare("", false, true, true, false, args)
		if err != nil {
			return fail(fmt.Errorf("declare exclusive queue: %w", err))
		}
		name = q.Name
	}
	if err := ch.QueueBind(name, s.topic, cfg.Exchange, false, nil); err != nil {
		return fail(fmt.Errorf("bind queue %q: %w", name, err))
	}
	deliveries, err := ch.Consume(name, "", false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consume queue %q: %w", name, err))
	}
	return ch, deliveries, nil
}

// run consumes until the subscription stops, restoring it whenever its
// channel or connection is lost.
func (s *subscription) run(ch *amqp.Channel, deliveries <-chan amqp.Delivery) {
	defer s.b.subs.Done()
	defer close(s.exited)
	for {
		lost := s.consume(deliveries)
		// Closing the channel returns the messages not acknowledged to the
		// queue and deletes an exclusive queue.
		ch.Close()
		if !lost {
			return
		}
		s.failsMu.Lock()
		s.fails = nil // a new exclusive queue starts empty
		s.failsMu.Unlock()
		s.b.log.Warn("broker/rabbitmq: subscription lost; restoring it", "topic", s.topic, "group", s.group)
		var ok bool
		if ch, deliveries, ok = s.restore(); !ok {
			return
		}
		s.b.log.Info("broker/rabbitmq: subscription restored", "topic", s.topic, "group", s.group)
	}
}

// restore sets the subscription up again, with back-off between failed
// attempts. It reports false when the subscription stopped first.
func (s *subscription) restore() (*amqp.Channel, <-chan amqp.Delivery, bool) {
	bo := s.b.retryWaits()
	for {
		ch, deliveries, err := s.open(s.ctx)
		if err == nil {
			return ch, deliveries, true
		}
		if s.isStopped() || errors.Is(err, broker.ErrClosed) {
			return nil, nil, false
		}
		s.b.log.Warn("broker/rabbitmq: restoring subscription failed", "topic", s.topic, "group", s.group, "err", err)
		select {
		case <-time.After(bo.next()):
		case <-s.stopped:
			return nil, nil, false
		}
	}
}

// consume handles deliveries with s.workers handler calls at a time until
// the subscription stops (false) or the deliveries end because the channel,
// the connection or the consumer was lost (true). It returns once every
// handler call has returned.
func (s *subscription) consume(deliveries <-chan amqp.Delivery) (lost bool) {
	if s.workers <= 1 {
		return s.work(deliveries)
	}
	var (
		wg    sync.WaitGroup
		lostN atomic.Int32
	)
	for range s.workers {
		wg.Go(func() {
			if s.work(deliveries) {
				lostN.Add(1)
			}
		})
	}
	wg.Wait()
	return lostN.Load() > 0 && !s.isStopped()
}

// work is one worker of consume: it handles one delivery at a time.
func (s *subscription) work(deliveries <-chan amqp.Delivery) (lost bool) {
	for {
		select {
		case <-s.stopped:
			return false
		case d, ok := <-deliveries:
			if !ok {
				return !s.isStopped()
			}
			if s.isStopped() {
				return false // left unacknowledged: closing the channel requeues it
			}
			s.handle(&d)
		}
	}
}

// handle makes one delivery attempt and acknowledges or rejects d.
// Acknowledgements that fail, because the channel is gone, are ignored: the
// server delivers the message again.
// The workers of one subscription call it concurrently: amqp091-go
// serializes Ack and Nack on the channel, and acknowledging single delivery
// tags (multiple=false) in any order is valid AMQP.
func (s *subscription) handle(d *amqp.Delivery) {
	attempt, key := 1, ""
	if s.queue != "" {
		if n, ok := deliveryCount(d.Headers); ok {
			attempt = n + 1
		} else if d.Redelivered {
			attempt = 2
		}
	} else {
		key = failureKey(d)
		s.failsMu.Lock()
		attempt = s.fails[key] + 1
		s.failsMu.Unlock()
	}
	msg := decode(d, attempt, s.b.ids.New)
	err := brokerutil.Call(s.ctx, "broker/rabbitmq", s.h, msg)
	if err == nil {
		d.Ack(false)
		s.setFails(key, 0)
		return
	}
	if max := s.b.cfg.MaxDeliveries; max > 0 && attempt >= max {
		s.b.log.Warn("broker/rabbitmq: message dead-lettered",
			"topic", s.topic, "group", s.group, "id", msg.ID, "deliveries", attempt,
			"exchange", s.b.cfg.deadLetterExchange(), "err", err)
		s.setFails(key, 0)
		d.Nack(false, false) // to the queue's dead-letter exchange
		return
	}
	s.setFails(key, attempt)
	d.Nack(false, true)
}

// setFails records n rejections of the message of key in an exclusive
// queue; 0 forgets it. An empty key (a queue group's) is ignored.
func (s *subscription) setFails(key string, n int) {
	if key == "" {
		return
	}
	s.failsMu.Lock()
	defer s.failsMu.Unlock()
	if n == 0 {
		delete(s.fails, key)
		return
	}
	if s.fails == nil {
		s.fails = make(map[string]int)
	}
	s.fails[key] = n
}
