package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
	"github.com/seedmicro/micro/core/broker/gopool"
)

// subscription is one Subscribe.
type subscription struct {
	b     *Broker
	topic string
	group string
	h     broker.Handler
	conc  int // handler calls that may run at once (broker.Concurrency), at least 1

	ctx    context.Context // handlers' context; cancelled by Unsubscribe
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	running  sync.WaitGroup // handler calls in progress
	pool     gopool.Pool    // runs them with Concurrency > 1 (pull.go)
	done     chan struct{}  // closed when Unsubscribe has finished
	err      error          // of Unsubscribe

	// core mode
	nsub *natsgo.Subscription
	// JetStream mode
	pull      *puller
	consumer  string
	ephemeral bool
}

var _ broker.Subscription = (*subscription)(nil)

func (s *subscription) Topic() string { return s.topic }

// enter registers a handler call; false once the subscription stops.
func (s *subscription) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.running.Add(1)
	return true
}

// call runs the handler, turning a panic into an error, and counts the
// delivery and its rejection.
func (s *subscription) call(msg *broker.Message) error {
	s.b.stats.delivered.Add(1)
	err := brokerutil.Call(s.ctx, "nats", s.h, msg)
	if err != nil {
		s.b.stats.rejected.Add(1)
	}
	return err
}

func (s *subscription) dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	switch {
	case s.nsub != nil:
		n, _ = s.nsub.Dropped()
	case s.pull != nil:
		n, _ = s.pull.nsub.Dropped()
	}
	return uint64(max(n, 0))
}

// Unsubscribe stops deliveries, cancels the handlers' context and waits for
// the handlers in progress, until ctx ends. Calling it again is harmless.
func (s *subscription) Unsubscribe(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.stopping = true
	nsub, pull, consumer, ephemeral := s.nsub, s.pull, s.consumer, s.ephemeral
	s.mu.Unlock()

	var errs []error
	if nsub != nil {
		if n, err := nsub.Dropped(); err == nil && n > 0 {
			s.b.stats.coreDropped.Add(uint64(n))
		}
		if err := nsub.Unsubscribe(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) && !errors.Is(err, natsgo.ErrBadSubscription) {
			errs = append(errs, err)
		}
		s.mu.Lock()
		s.nsub = nil
		s.mu.Unlock()
	}
	s.cancel() // tell the handler in progress
	if pull != nil {
		// No more messages; the loop ends after the handler in progress,
		// and what it had not handled goes back to the server at once.
		_ = pull.nsub.Unsubscribe()
		close(pull.stop)
		select {
		case <-pull.done:
			pull.drain()
		case <-ctx.Done():
		}
	}
	waited := make(chan struct{})
	go func() {
		s.running.Wait()
		s.pool.Close()
		s.b.ack.wait() // their acknowledgements handed to the connection
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("nats: unsubscribe from %s: handler still running: %w", s.topic, ctx.Err()))
	}
	if ephemeral && !s.b.nc.IsClosed() {
		err := s.b.js.DeleteConsumer(ctx, s.b.cfg.Stream, consumer)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			s.b.log.Warn("nats: could not delete the consumer of an ended subscription; the server removes it after InactiveThreshold",
				"consumer", consumer, "err", err)
		}
	}
	s.b.subs.Remove(s)
	s.err = errors.Join(errs...)
	close(s.done)
	return s.err
}

// startCore subscribes in core mode.
func (s *subscription) startCore(ctx context.Context) error {
	b := s.b
	cb := func(m *natsgo.Msg) {
		if s.conc <= 1 {
			if !s.enter() {
				return
			}
			defer s.running.Done()
		} // else entered by the dispatching cb below
		msg := decode(m.Header, m.Data, b.ids.New)
		msg.Header[broker.DeliveryHeader] = "1"
		if err := s.call(msg); err != nil {
			b.log.Warn("nats: handler rejected a message; core NATS cannot deliver it again, so it is lost",
				"topic", s.topic, "id", msg.ID, "err", err)
		}
	}
	if s.conc > 1 {
		// The client calls cb for one message at a time: cb waits for one
		// of conc slots and hands the message to a goroutine of its own.
		// While every slot is taken, messages wait in the client's pending
		// queue, under its limits, as they do for a single handler.
		handle, slots := cb, make(chan struct{}, s.conc)
		cb = func(m *natsgo.Msg) {
			select {
			case slots <- struct{}{}:
			case <-s.ctx.Done(): // Unsubscribe
				return
			}
			if !s.enter() {
				<-slots
				return
			}
			go func() {
				defer func() { <-slots }()
				defer s.running.Done()
				handle(m)
			}()
		}
	}
	subj := subject(b.cfg.SubjectPrefix, s.topic)
	var (
		nsub *natsgo.Subscription
		err  error
	)
	if s.group != "" {
		nsub, err = b.nc.QueueSubscribe(subj, s.group, cb)
	} else {
		nsub, err = b.nc.Subscribe(subj, cb)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	stopping := s.stopping
	s.nsub = nsub
	s.mu.Unlock()
	if stopping {
		_ = nsub.Unsubscribe()
		return broker.ErrClosed
	}
	// A round trip makes sure the server knows the subscription.
	return flush(ctx, b.nc)
}

// flush makes a round trip to the server, within ctx or, when ctx has no
// deadline, within flushTimeout.
func flush(ctx context.Context, nc *natsgo.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

// flushTimeout bounds a round trip to the server under a ctx without
// deadline.
const flushTimeout = 10 * time.Second

// startJS creates the consumer of the subscription and starts consuming.
func (s *subscription) startJS(ctx context.Context) error {
	b := s.b
	cfg := b.cfg
	cc := jetstream.ConsumerConfig{
		FilterSubject: subject(cfg.SubjectPrefix, s.topic),
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Duration(cfg.AckWait),
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending,
	}
	var (
		cons jetstream.Consumer
		err  error
	)
	// With broker.Concurrency(n) above MaxAckPending, a consumer is
	// created with MaxAckPending n, or the server would never hand out n
	// messages at once. An existing durable is not raised: it is created or
	// updated with MaxAckPending as without Concurrency (see the README).
	raised := cc
	raised.MaxAckPending = max(cc.MaxAckPending, s.conc)
	if s.group != "" {
		cc.Durable = DurableName(s.topic, s.group)
		cc.Description = fmt.Sprintf("micro queue group %q of topic %q", s.group, s.topic)
		if raised.MaxAckPending > cc.MaxAckPending {
			// Some servers take a create of an existing consumer with
			// other settings for an update: look first.
			raised.Durable, raised.Description = cc.Durable, cc.Description
			_, err = b.js.Consumer(ctx, cfg.Stream, cc.Durable)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				cons, err = b.js.CreateConsumer(ctx, cfg.Stream, raised)
			}
			if err == nil && cons == nil || errors.Is(err, jetstream.ErrConsumerExists) {
				cons, err = b.js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
			}
		} else {
			cons, err = b.js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
		}
	} else {
		raised.InactiveThreshold = time.Duration(cfg.InactiveThreshold)
		raised.Description = fmt.Sprintf("micro subscriber of topic %q", s.topic)
		cons, err = b.js.CreateConsumer(ctx, cfg.Stream, raised)
	}
	if err != nil {
		return err
	}
	name, ephemeral := cons.CachedInfo().Name, s.group == ""
	pull, err := newPuller(b.nc, cfg.Stream, name, s.batch())
	if err == nil {
		s.mu.Lock()
		if s.stopping {
			err = broker.ErrClosed
			_ = pull.nsub.Unsubscribe()
		} else {
			s.pull, s.consumer, s.ephemeral = pull, name, ephemeral
		}
		s.mu.Unlock()
	}
	if err != nil {
		if ephemeral {
			_ = b.js.DeleteConsumer(ctx, cfg.Stream, name)
		}
		return err
	}
	go s.pullLoop(pull)
	return nil
}

// batch is how many messages a pull request of the subscription asks
// for: Prefetch, and at least enough for every handler slot.
func (s *subscription) batch() int { return max(s.b.cfg.Prefetch, s.conc) }
