// Package rabbitmq is a broker.Broker on RabbitMQ (AMQP 0-9-1), built on
// github.com/rabbitmq/amqp091-go.
//
// # Topology
//
// Messages are published to one durable topic exchange (Config.Exchange,
// "micro" by default) with the topic as routing key. A subscriber without a
// queue group gets an exclusive, auto-delete queue of its own, named by the
// server and bound to the exchange with the topic as binding key. The
// members of a queue group share one durable quorum queue, named by
// QueueName: "<exchange>.<topic>.<group>". It outlives its subscribers, so a
// group misses nothing while none of its members runs. A topic exchange
// matches binding keys with wildcards: a subscription to "orders.*" receives
// "orders.created" ('*' is one word, '#' any number of words).
//
// # Delivery
//
// Publish returns once the server has confirmed the message (publisher
// confirms): it is then in every queue bound to the topic, on disk for a
// queue group. If the connection is lost before the confirmation, Publish
// publishes the message again, with the same ID, once the broker has
// reconnected, until it is confirmed or ctx is done. A message can therefore
// arrive twice; it is never lost once Publish returned nil and a queue group
// subscribed before.
//
// Every subscription consumes with manual acknowledgements and at most
// Config.Prefetch unacknowledged messages, and calls its handler for one
// message at a time; with broker.Concurrency(n) it calls it for up to n
// messages at once, each acknowledged on its own, and holds at least n
// unacknowledged. A handler that returns nil acknowledges the message; one
// that returns an error, or panics, rejects it (basic.nack with requeue)
// and the server delivers it again. After Config.MaxDeliveries deliveries a
// rejected message is dead-lettered instead: to the exchange
// "<exchange>.dlx", whose queue "<exchange>.dlq" keeps it. A queue group's
// quorum queue counts the deliveries itself (x-delivery-count, limit
// x-delivery-limit), and counts every delivery that did not end with an
// acknowledgement, including one cut short by a lost connection; a
// subscriber without a group counts the rejections of its handler in
// memory. Every delivery carries its attempt number in the header
// broker.DeliveryHeader.
//
// # Connection loss
//
// The broker keeps two connections, one to publish and one to consume,
// and reconnects each with jittered exponential back-off when it is lost.
// Publish waits for the reconnection (within its ctx). Every subscription
// declares its queue and binding again and consumes anew; the messages its
// handler had not acknowledged are delivered again. The exclusive queue of
// a subscriber without a group is deleted with the connection: the messages
// published while it was down are lost for that subscriber.
//
// See README.md for the settings, the wire format and how other AMQP
// programs publish to and consume from micro.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// maxChannelFailures is how often Publish republishes a message whose
// channel the server closed while the connection stayed up (a channel
// error, such as a message larger than the server allows) before it gives
// up with that error.
const maxChannelFailures = 3

// brokenWriteWait is how long Publish waits, after a write to the connection
// failed, for the library to close the connection before it closes it
// itself.
const brokenWriteWait = time.Second

var _ broker.Broker = (*Broker)(nil)

// Broker is a broker.Broker on RabbitMQ. Create one with New; it is safe for
// concurrent use. Close it to release its connections and goroutines.
type Broker struct {
	cfg Config
	log *slog.Logger

	ids brokerutil.IDs

	pub, sub *link
	pubMu    sync.Mutex                 // serializes opening the publishing channel
	pubCh    atomic.Pointer[pubChannel] // the publishing channel; nil or closed when it must be opened

	done      chan struct{}   // closed by Close: Publish and waits give up
	linkCtx   context.Context // cancelled after the subscriptions stopped: links close
	stopLinks context.CancelFunc
	subs      brokerutil.Subscriptions[*subscription]
	linkWG    sync.WaitGroup // link supervisors and channel watchers
}

// New connects to the server of cfg, declares the exchanges and returns a
// broker. ctx bounds the first connection only; the broker does not keep it.
// Zero fields of cfg take their defaults; an invalid field is an error that
// names it.
func New(ctx context.Context, cfg Config, opts ...Option) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	b := &Broker{
		cfg:  cfg,
		log:  o.logger,
		done: make(chan struct{}),
	}
	b.linkCtx, b.stopLinks = context.WithCancel(context.Background())
	b.pub = newLink(b, "publisher")
	b.sub = newLink(b, "consumer")

	err := b.pub.start(ctx)
	if err == nil {
		_, err = b.publisher(ctx) // declares the exchanges
	}
	if err != nil {
		b.Close(context.Background())
		return nil, err
	}
	return b, nil
}

func (b *Broker) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// declareExchanges declares the exchange and, with dead-lettering, the
// dead-letter exchange and queue, on ch.
func (b *Broker) declareExchanges(ch *amqp.Channel) error {
	cfg := &b.cfg
	if err := ch.ExchangeDeclare(cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("broker/rabbitmq: declare exchange %q: %w", cfg.Exchange, err)
	}
	if !cfg.deadLettering() {
		return nil
	}
	dlx, dlq := cfg.deadLetterExchange(), cfg.deadLetterQueue()
	if err := ch.ExchangeDeclare(dlx, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("broker/rabbitmq: declare dead-letter exchange %q: %w", dlx, err)
	}
	if _, err := ch.QueueDeclare(dlq, true, false, false, false, nil); err != nil {
		return fmt.Errorf("broker/rabbitmq: declare dead-letter queue %q: %w", dlq, err)
	}
	if err := ch.QueueBind(dlq, "#", dlx, false, nil); err != nil {
		return fmt.Errorf("broker/rabbitmq: bind dead-letter queue %q: %w", dlq, err)
	}
	return nil
}

// pubChannel is a channel in confirm mode that Publish shares.
type pubChannel struct {
	conn   *amqp.Connection
	ch     *amqp.Channel
	closed chan struct{} // closed once ch is
	err    *amqp.Error   // why ch closed; set before closed is closed
}

// publisher returns the publishing channel, opening one when there is none,
// and waiting for the connection until ctx is done.
func (b *Broker) publisher(ctx context.Context) (*pubChannel, error) {
	for {
		if pc := b.pubCh.Load(); pc != nil && !pc.ch.IsClosed() {
			return pc, nil
		}
		conn, err := b.pub.get(ctx)
		if err != nil {
			return nil, err
		}
		b.pubMu.Lock()
		if pc := b.pubCh.Load(); pc != nil && !pc.ch.IsClosed() {
			b.pubMu.Unlock()
			return pc, nil
		}
		pc, err := b.openPublisher(conn)
		if err == nil {
			b.pubCh.Store(pc)
		}
		b.pubMu.Unlock()
		if err == nil {
			return pc, nil
		}
		if !conn.IsClosed() {
			return nil, err
		}
		// The connection was lost meanwhile: wait for the next one.
	}
}

func (b *Broker) openPublisher(conn *amqp.Connection) (*pubChannel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("broker/rabbitmq: open publishing channel: %w", err)
	}
	if err := b.declareExchanges(ch); err != nil {
		ch.Close()
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("broker/rabbitmq: enable publisher confirms: %w", err)
	}
	if !b.subs.Track(&b.linkWG) {
		ch.Close()
		return nil, broker.ErrClosed
	}
	pc := &pubChannel{conn: conn, ch: ch, closed: make(chan struct{})}
	lost := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		defer b.linkWG.Done()
		pc.err = <-lost
		close(pc.closed)
	}()
	return pc, nil
}

var _ broker.BatchPublisher = (*Broker)(nil)

// PublishBatch publishes every publication as Publish does. It sends them
// all on the publishing channel before it waits for their confirms, so the
// batch costs one round trip, not one per message; a message that is not
// confirmed (the server nacked it, the channel or the connection failed)
// goes through Publish, with its retries, under the same message ID.
func (b *Broker) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	if len(pubs) == 1 {
		broker.PublishEach(ctx, b, pubs, errs)
		return
	}
	type sent struct {
		i  int
		m  amqp.Publishing
		dc *amqp.DeferredConfirmation // nil: not sent
	}
	all := make([]sent, 0, len(pubs))
	pc, err := b.publisher(ctx)
	if err != nil {
		if errors.Is(err, broker.ErrClosed) || ctx.Err() != nil {
			for i := range errs {
				errs[i] = err
			}
			return
		}
		pc = nil // each goes the way of Publish
	}
	for i, p := range pubs {
		m, err := b.prepare(p.Topic, p.Message)
		if err != nil {
			errs[i] = err
			continue
		}
		s := sent{i: i, m: m}
		if pc != nil {
			if s.dc, err = pc.ch.PublishWithDeferredConfirm(b.cfg.Exchange, p.Topic, false, false, m); err != nil {
				s.dc, pc = nil, nil // the channel is broken: the way of Publish for the rest
			}
		}
		all = append(all, s)
	}
	for _, s := range all {
		if s.dc != nil {
			select {
			case <-s.dc.Done():
			case <-ctx.Done():
				errs[s.i] = fmt.Errorf("broker/rabbitmq: publish to %q: %w", pubs[s.i].Topic, ctx.Err())
				continue
			case <-b.done:
				errs[s.i] = broker.ErrClosed
				continue
			}
			if s.dc.Acked() {
				errs[s.i] = nil
				continue
			}
		}
		errs[s.i] = b.publish(ctx, pubs[s.i].Topic, s.m)
	}
}

// Publish sends msg to topic and returns once the server has confirmed it.
// When msg.ID is empty the message gets a new unique ID. msg is not
// modified or kept.
//
// A message not confirmed because the connection was lost (or a write to
// it failed) is published again once the broker has reconnected, as often
// as needed until ctx is done; the server rejecting a message (basic.nack)
// also leads to another attempt, after a back-off. Publish then returns an
// error that wraps ctx's. On a closed broker it returns broker.ErrClosed.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	p, err := b.prepare(topic, msg)
	if err != nil {
		return err
	}
	if b.isClosed() {
		return broker.ErrClosed
	}
	return b.publish(ctx, topic, p)
}

// prepare checks topic and msg and encodes msg, with its ID or a new one.
func (b *Broker) prepare(topic string, msg *broker.Message) (amqp.Publishing, error) {
	if err := checkTopic(topic); err != nil {
		return amqp.Publishing{}, fmt.Errorf("broker/rabbitmq: publish: %w", err)
	}
	if msg == nil {
		return amqp.Publishing{}, errors.New("broker/rabbitmq: publish: nil message")
	}
	id := msg.ID
	if id == "" {
		id = b.ids.New()
	}
	p, err := encode(msg, id)
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("broker/rabbitmq: publish to %q: %w", topic, err)
	}
	return p, nil
}

// publish publishes p to topic until the server confirms it, publishing
// it again on another channel or connection as long as ctx allows.
func (b *Broker) publish(ctx context.Context, topic string, p amqp.Publishing) error {
	var (
		bo            *retryWaits
		channelErrors int
		failed        = func(err error) error { return fmt.Errorf("broker/rabbitmq: publish to %q: %w", topic, err) }
	)
	for {
		if err := ctx.Err(); err != nil {
			return failed(err)
		}
		pc, err := b.publisher(ctx)
		if err != nil {
			if errors.Is(err, broker.ErrClosed) {
				return err
			}
			return failed(err)
		}
		dc, err := pc.ch.PublishWithDeferredConfirm(b.cfg.Exchange, topic, false, false, p)
		if err == nil {
			select {
			case <-dc.Done():
			case <-ctx.Done():
				return failed(ctx.Err())
			case <-b.done:
				return broker.ErrClosed
			}
			if dc.Acked() {
				return nil
			}
		}
		switch {
		case pc.ch.IsClosed() && pc.conn.IsClosed():
			// The connection was lost: publish again on the next one.
		case pc.ch.IsClosed():
			// The server closed the channel; the culprit may be this
			// message or another one published on the channel.
			select {
			case <-pc.closed:
			case <-ctx.Done():
				return failed(ctx.Err())
			}
			if channelErrors++; channelErrors >= maxChannelFailures {
				if pc.err != nil {
					return failed(pc.err)
				}
				return failed(amqp.ErrClosed)
			}
		case err != nil:
			// Writing to the connection failed: it is broken. The library
			// closes it once its reader sees the end; if that does not
			// happen soon, close it here, as its stream of frames may be
			// cut in the middle of one.
			select {
			case <-pc.closed:
			case <-time.After(brokenWriteWait):
				pc.conn.CloseDeadline(time.Now().Add(brokenWriteWait))
			case <-ctx.Done():
				return failed(fmt.Errorf("%w, then %w", err, ctx.Err()))
			case <-b.done:
				return broker.ErrClosed
			}
		default:
			// The server rejected the message (basic.nack): try again.
			if bo == nil {
				bo = b.retryWaits()
			}
			select {
			case <-time.After(bo.next()):
			case <-ctx.Done():
				return failed(fmt.Errorf("rejected by the server, then %w", ctx.Err()))
			case <-b.done:
				return broker.ErrClosed
			}
		}
	}
}

// Close unsubscribes every subscription, waiting for handlers in progress
// until ctx is done, then closes the connections. From then on Publish and
// Subscribe return broker.ErrClosed, and Publish calls waiting for a
// confirmation or a connection return it at once. Close may be called
// again, for instance after ctx ended, to wait again.
func (b *Broker) Close(ctx context.Context) error {
	subs, first := b.subs.Close()
	if first {
		close(b.done)
	}
	for _, s := range subs {
		s.stop()
	}
	err := b.subs.Wait(ctx)
	// Even if handlers still run, the connections go: their
	// acknowledgements fail and the server delivers their messages again.
	b.stopLinks()
	if err != nil {
		return err
	}
	return brokerutil.Wait(ctx, &b.linkWG)
}
