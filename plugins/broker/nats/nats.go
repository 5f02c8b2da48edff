// Package nats is a broker.Broker on NATS (https://nats.io), in one of two
// modes chosen by Config.Mode.
//
// # JetStream mode (default): at least once
//
// Topic T is the subject "<SubjectPrefix>.T" ("micro.T" by default), stored
// in one stream (Config.Stream, "MICRO" by default) over "<SubjectPrefix>.>",
// which New creates when it does not exist. Publish returns once the stream
// has stored the message (its PubAck arrived); an acknowledgement that does
// not arrive is retried with the same message ID, which the stream drops as
// a duplicate within its duplicate window, until the ctx of Publish (or
// Config.PublishTimeout) ends.
//
// A subscriber without queue group reads through a consumer of its own,
// created by Subscribe with "deliver new" (it sees the messages published
// after Subscribe returns) and removed by Unsubscribe, or by the server
// Config.InactiveThreshold after its process died. Subscribers that share a
// queue group on a topic read through one durable consumer named after the
// topic and the group (see the package README): the server hands each
// message to one of them, and keeps the messages that arrive while no member
// runs. Durable consumers outlive their subscribers; delete them with the
// nats tool when a group is retired.
//
// A handler that returns nil acknowledges its message; one that returns an
// error or panics rejects it, and the server delivers it again after
// Config.NakDelay, to the same subscriber or, in a group, to any member.
// A message not acknowledged within Config.AckWait (its process died) is
// delivered again too; a handler that runs longer keeps its message, as the
// broker reports progress every AckWait/2. Each delivery carries its attempt
// number in broker.DeliveryHeader. After Config.MaxDeliver attempts a
// rejected message is given up on: with Config.DeadLetterTopic set, a copy
// goes to that topic first; the original is then terminated, and stays in
// the stream until its age limit. Handlers of one subscriber run one at a
// time, or up to n at once with broker.Concurrency(n) (a pull request then
// asks for at least n messages, and a consumer Subscribe creates gets a
// MaxAckPending of at least n); queue group members run in parallel.
//
// # Core mode: at most once
//
// Topic T is the subject "<SubjectPrefix>.T" of core NATS, and queue groups
// are NATS queue subscriptions. Nothing is stored: a message reaches the
// subscribers connected when it is published, or nobody. A handler's error
// cannot cause a redelivery: it is logged and counted in Stats.Rejected. A
// subscriber that falls too far behind loses messages to the client's
// pending limits, counted in Stats.Dropped. With broker.Concurrency(n) up
// to n handler calls of a subscriber run at once.
//
// # Wire format
//
// The body is the NATS message data. Message.ID travels in the header
// Nats-Msg-Id, and each entry of Message.Header as a NATS header of the same
// key (the case is kept). Keys of the Nats- namespace are reserved. See the
// package README for a plain nats.go program that talks to a micro service.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/gopool"
	"github.com/seedmicro/micro/plugins/internal/natsconn"
)

var _ broker.Broker = (*Broker)(nil)

// Option configures what a Config cannot: Go values.
type Option interface {
	apply(*options)
}

type options struct {
	log      *slog.Logger
	natsOpts []natsgo.Option
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger for connection events, rejected and dropped
// messages. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.log = l
		}
	})
}

// WithNATSOptions adds options of the nats.go client, applied after those
// that Config implies.
func WithNATSOptions(opts ...natsgo.Option) Option {
	return optionFunc(func(o *options) { o.natsOpts = append(o.natsOpts, opts...) })
}

// Stats counts what a Broker did since New.
type Stats struct {
	// Published is the number of messages Publish sent (core) or the
	// stream stored (JetStream).
	Published uint64
	// Duplicates is the number of publishes the stream dropped as
	// duplicates of a message ID it had seen (JetStream).
	Duplicates uint64
	// PublishRetries is the number of publish attempts repeated because the
	// acknowledgement did not arrive (JetStream).
	PublishRetries uint64
	// Delivered is the number of handler calls.
	Delivered uint64
	// Rejected is the number of handler calls that returned an error or
	// panicked. In core mode each is a message lost.
	Rejected uint64
	// Dropped is the number of messages the client discarded because a
	// subscriber fell behind (core; in JetStream mode the server delivers
	// them again).
	Dropped uint64
	// DeadLettered is the number of messages copied to the dead-letter
	// topic (JetStream).
	DeadLettered uint64
	// Terminated is the number of messages given up on after MaxDeliver
	// attempts (JetStream).
	Terminated uint64
}

type counters struct {
	published, duplicates, retries        atomic.Uint64
	delivered, rejected, dropped          atomic.Uint64
	deadLettered, terminated, coreDropped atomic.Uint64
}

// Broker is a broker.Broker on NATS. Create it with New; it is safe for
// concurrent use. Close it to release its connection.
type Broker struct {
	cfg Config
	log *slog.Logger
	nc  *natsgo.Conn
	js  jetstream.JetStream // nil in core mode
	ids *idGen
	out *sync.Pool // of *outMsg
	ack *acker

	stats counters

	base   context.Context // parent of handler contexts; cancelled by Close
	cancel context.CancelFunc

	closing atomic.Bool // set by Close, read by Publish without locking

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}

	lastSubject atomic.Pointer[topicSubject] // the subject of the last topic published to
}

type topicSubject struct{ topic, subject string }

// New connects to the server of cfg and, in JetStream mode, makes sure the
// stream exists. ctx bounds the connection and the stream set-up.
func New(ctx context.Context, cfg Config, opts ...Option) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt.apply(&o)
	}
	b := &Broker{
		cfg:  cfg,
		log:  o.log.With("broker", "nats", "mode", cfg.Mode),
		ids:  newIDGen(),
		out:  newOutPool(),
		ack:  newAcker(),
		subs: make(map[*subscription]struct{}),
	}
	nc, err := connect(ctx, cfg, b.log, o.natsOpts)
	if err != nil {
		return nil, err
	}
	b.nc = nc
	if cfg.Mode == ModeJetStream {
		js, err := jetstream.New(nc)
		if err == nil {
			err = ensureStream(ctx, js, cfg)
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
		b.js = js
	}
	b.base, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

// connect dials the server of cfg; it retries until ctx ends, so that a
// server starting at the same time as the service is waited for.
func connect(ctx context.Context, cfg Config, log *slog.Logger, extra []natsgo.Option) (*natsgo.Conn, error) {
	opts := append([]natsgo.Option{
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) && sub != nil {
				log.Warn("nats: subscriber falls behind; the client drops its messages", "subject", sub.Subject)
				return
			}
			log.Warn("nats: asynchronous error", "err", err)
		}),
	}, extra...)
	return natsconn.Connect(ctx, natsconn.Settings{
		URL: cfg.URL, Name: cfg.Name,
		User: cfg.User, Password: cfg.Password, Token: cfg.Token, CredsFile: cfg.CredsFile,
		TLSCAFile: cfg.TLSCAFile, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
		ReconnectWait: time.Duration(cfg.ReconnectWait),
	}, log, opts...)
}

// ensureStream creates the stream of cfg when it does not exist and checks
// that the stream covers the subjects of the prefix.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	_, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		storage := jetstream.FileStorage
		if cfg.StreamStorage == "memory" {
			storage = jetstream.MemoryStorage
		}
		maxBytes := cfg.StreamMaxBytes
		if maxBytes == 0 {
			maxBytes = -1
		}
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        cfg.Stream,
			Description: "micro broker messages",
			Subjects:    []string{cfg.SubjectPrefix + ".>"},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      time.Duration(cfg.StreamMaxAge),
			MaxBytes:    maxBytes,
			Storage:     storage,
			Replicas:    cfg.StreamReplicas,
			Duplicates:  time.Duration(cfg.DuplicateWindow),
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // created by another process meanwhile
		}
	}
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", cfg.Stream, err)
	}
	probe := subject(cfg.SubjectPrefix, "_")
	name, err := js.StreamNameBySubject(ctx, probe)
	if err != nil || name != cfg.Stream {
		return fmt.Errorf("nats: stream %s does not hold the subjects %s.> (the server says %q, %v); set Config.Stream or Config.SubjectPrefix", cfg.Stream, cfg.SubjectPrefix, name, err)
	}
	return nil
}

// Stats returns the counters of the broker.
func (b *Broker) Stats() Stats {
	s := Stats{
		Published:      b.stats.published.Load(),
		Duplicates:     b.stats.duplicates.Load(),
		PublishRetries: b.stats.retries.Load(),
		Delivered:      b.stats.delivered.Load(),
		Rejected:       b.stats.rejected.Load(),
		DeadLettered:   b.stats.deadLettered.Load(),
		Terminated:     b.stats.terminated.Load(),
		Dropped:        b.stats.coreDropped.Load(),
	}
	b.mu.Lock()
	for sub := range b.subs {
		s.Dropped += sub.dropped()
	}
	b.mu.Unlock()
	return s
}

// Publish sends msg to topic. In JetStream mode it returns once the stream
// has stored msg. A message without ID gets one; msg is not modified or
// kept.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	o, err := b.prepare(topic, msg)
	if err != nil {
		return err
	}
	defer o.release()
	if b.js == nil {
		if err := b.nc.PublishMsg(&o.m); err != nil {
			return b.mapErr("publish to "+topic, err)
		}
		b.stats.published.Add(1)
		return nil
	}
	return b.publishJS(ctx, topic, &o.m)
}

var _ broker.BatchPublisher = (*Broker)(nil)

// PublishBatch publishes every publication as Publish does. In JetStream
// mode it sends them all before it waits for their acknowledgements
// (asynchronous publishes, one flush for the batch); one whose
// acknowledgement reports a failure worth retrying, or does not come
// within an attempt's timeout, is published again as Publish would,
// under the same message ID, so that the stream keeps one copy. In core
// mode it publishes each in turn: core publishes do not wait anyway.
func (b *Broker) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	if b.js == nil || len(pubs) == 1 {
		broker.PublishEach(ctx, b, pubs, errs)
		return
	}
	if b.isClosed() {
		for i := range errs {
			errs[i] = broker.ErrClosed
		}
		return
	}
	type sent struct {
		i   int
		o   *outMsg
		ack jetstream.PubAckFuture
	}
	all := make([]sent, 0, len(pubs))
	for i, p := range pubs {
		o, err := b.prepare(p.Topic, p.Message)
		if err != nil {
			errs[i] = err
			continue
		}
		ack, err := b.js.PublishMsgAsync(&o.m)
		if err != nil {
			// Not sent (too many pending, reconnecting): the way of
			// Publish, with its retries.
			errs[i] = b.publishJS(ctx, p.Topic, &o.m)
			o.release()
			continue
		}
		all = append(all, sent{i, o, ack})
	}
	expired := make(chan struct{}) // closed when the attempt's time is up
	t := time.AfterFunc(attemptTimeout, func() { close(expired) })
	defer t.Stop()
	for _, s := range all {
		topic := pubs[s.i].Topic
		ack, err, again := waitAck(ctx, s.ack, expired)
		switch {
		case ack != nil:
			b.stats.published.Add(1)
			if ack.Duplicate {
				b.stats.duplicates.Add(1)
			}
			errs[s.i] = nil
			s.o.release()
		case !again:
			errs[s.i] = b.mapErr("publish to "+topic, err)
		default:
			// Again, as Publish does; the message ID makes the stream
			// keep one copy if the first reached it after all. The
			// asynchronous publisher may still hold s.o, which is left
			// to the collector.
			b.stats.retries.Add(1)
			m := natsgo.Msg{Subject: s.o.m.Subject, Header: maps.Clone(s.o.m.Header), Data: s.o.m.Data}
			errs[s.i] = b.publishJS(ctx, topic, &m)
		}
	}
}

// waitAck waits for the acknowledgement of an asynchronous publish: the
// ack, or the error and whether to publish again (a failure worth
// retrying, or no answer before expired is closed).
func waitAck(ctx context.Context, f jetstream.PubAckFuture, expired <-chan struct{}) (*jetstream.PubAck, error, bool) {
	select { // what has come first, then what comes
	case ack := <-f.Ok():
		return ack, nil, false
	case err := <-f.Err():
		return nil, err, retryable(err)
	default:
	}
	select {
	case ack := <-f.Ok():
		return ack, nil, false
	case err := <-f.Err():
		return nil, err, retryable(err)
	case <-expired:
		return nil, nil, true
	case <-ctx.Done():
		return nil, ctx.Err(), false
	}
}

// prepare checks topic and msg and encodes msg for topic, with its ID or
// a new one. The caller releases the message.
func (b *Broker) prepare(topic string, msg *broker.Message) (*outMsg, error) {
	if msg == nil {
		return nil, errors.New("nats: Publish of a nil message")
	}
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	id := msg.ID
	if id == "" {
		id = b.ids.next()
	}
	o, err := encode(b.out, b.subject(topic), id, msg)
	if err != nil {
		return nil, err
	}
	if err := b.checkSize(o.size); err != nil {
		o.release()
		return nil, err
	}
	return o, nil
}

// checkSize reports a message of size bytes (body and headers) larger than
// the server accepts, with advice.
func (b *Broker) checkSize(size int64) error {
	if max := b.nc.MaxPayload(); max > 0 && size > max {
		return fmt.Errorf("nats: message of %d bytes (body and headers) exceeds the server's max_payload of %d bytes; raise max_payload in the nats-server configuration: %w", size, max, natsgo.ErrMaxPayload)
	}
	return nil
}

// attemptTimeout bounds one attempt of a JetStream publish.
const attemptTimeout = 2 * time.Second

func (b *Broker) publishJS(ctx context.Context, topic string, m *natsgo.Msg) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Duration(b.cfg.PublishTimeout))
	}
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// One context per attempt, ending at the attempt's timeout or the
		// publish deadline, whichever comes first.
		end := time.Now().Add(attemptTimeout)
		if deadline.Before(end) {
			end = deadline
		}
		actx, cancel := context.WithDeadline(ctx, end)
		ack, err := b.js.PublishMsg(actx, m)
		cancel()
		if err == nil {
			b.stats.published.Add(1)
			if ack.Duplicate {
				b.stats.duplicates.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) || !retryable(err) {
			return b.mapErr(fmt.Sprintf("publish to %s (attempt %d)", topic, attempt), err)
		}
		b.stats.retries.Add(1)
		select {
		case <-ctx.Done():
			return b.mapErr(fmt.Sprintf("publish to %s (attempt %d)", topic, attempt), err)
		case <-time.After(min(wait, time.Until(deadline))):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// retryable reports whether a publish that failed with err may succeed if
// tried again: its acknowledgement was lost or the server was not ready.
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, natsgo.ErrTimeout) ||
		errors.Is(err, natsgo.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, natsgo.ErrConnectionReconnecting) ||
		errors.Is(err, natsgo.ErrDisconnected)
}

// mapErr wraps err of an operation, as broker.ErrClosed once the broker or
// its connection is closed.
func (b *Broker) mapErr(op string, err error) error {
	if b.isClosed() || errors.Is(err, natsgo.ErrConnectionClosed) {
		return fmt.Errorf("nats: %s: %w (%v)", op, broker.ErrClosed, err)
	}
	return fmt.Errorf("nats: %s: %w", op, err)
}

func (b *Broker) isClosed() bool { return b.closing.Load() }

// subject returns the subject of topic, remembering the last one: a
// publisher tends to publish to one topic many times.
func (b *Broker) subject(topic string) string {
	if ts := b.lastSubject.Load(); ts != nil && ts.topic == topic {
		return ts.subject
	}
	ts := &topicSubject{topic, subject(b.cfg.SubjectPrefix, topic)}
	b.lastSubject.Store(ts)
	return ts.subject
}

// Subscribe calls h with every message published to topic from now on; with
// broker.Queue, h shares them with the other members of the group. It
// returns once the subscription is active on the server.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if h == nil {
		return nil, errors.New("nats: Subscribe with a nil handler")
	}
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	o := broker.NewSubscribeOptions(opts...)
	if strings.ContainsFunc(o.Queue, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("nats: queue group %q holds white space or control characters", o.Queue)
	}
	s := &subscription{b: b, topic: topic, group: o.Queue, h: h, conc: max(o.Concurrency, 1), done: make(chan struct{})}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, broker.ErrClosed
	}
	s.ctx, s.cancel = context.WithCancel(b.base)
	b.subs[s] = struct{}{}
	b.mu.Unlock()

	var err error
	if b.js == nil {
		err = s.startCore(ctx)
	} else {
		err = s.startJS(ctx)
	}
	if err != nil {
		s.cancel()
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		return nil, b.mapErr("subscribe to "+topic, err)
	}
	return s, nil
}

// Close ends every subscription, waiting for their handlers until ctx
// ends, and closes the connection. Publish and Subscribe then return
// broker.ErrClosed.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.closing.Store(true)
	subs := make([]*subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()

	var errs []error
	for _, s := range subs {
		if err := s.Unsubscribe(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	b.cancel()
	b.ack.wait()
	_ = flush(ctx, b.nc) // send the last acknowledgements
	b.nc.Close()
	return errors.Join(errs...)
}

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

// call runs the handler, turning a panic into an error.
func (s *subscription) call(msg *broker.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nats: handler panicked: %v", r)
		}
	}()
	s.b.stats.delivered.Add(1)
	err = s.h(s.ctx, msg)
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
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
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
		msg := decode(m.Header, m.Data, b.ids.next)
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

// handleJS handles one JetStream delivery.
func (s *subscription) handleJS(jm *natsgo.Msg) {
	if !s.enter() {
		_ = jm.Nak() // back to the server for another member, at once
		return
	}
	defer s.running.Done()
	s.handleEntered(jm)
}

// handleEntered handles one JetStream delivery once s.enter has counted
// it. Handlers of one subscription may run it concurrently: each has its
// message, and acks, naks and "in progress" are publishes, which the
// connection serialises.
func (s *subscription) handleEntered(jm *natsgo.Msg) {
	b := s.b
	md, err := jm.Metadata()
	if err != nil {
		b.log.Warn("nats: delivery without JetStream metadata; terminated", "err", err)
		_ = jm.Term()
		return
	}
	msg := decode(jm.Header, jm.Data, func() string {
		return md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	})
	msg.Header[broker.DeliveryHeader] = strconv.FormatUint(md.NumDelivered, 10)

	ka := startKeepAlive(jm, time.Duration(b.cfg.AckWait)/2)
	herr := s.call(msg)
	ka.stop()
	if herr == nil {
		b.ack.ack(jm)
		return
	}
	if b.cfg.MaxDeliver < 0 || md.NumDelivered < uint64(b.cfg.MaxDeliver) {
		_ = jm.NakWithDelay(time.Duration(b.cfg.NakDelay))
		return
	}
	s.giveUp(jm, msg, md, herr)
}

// giveUp handles a message rejected for the last time: copied to the
// dead-letter topic, if any, then terminated.
func (s *subscription) giveUp(jm *natsgo.Msg, msg *broker.Message, md *natsgo.MsgMetadata, herr error) {
	b := s.b
	log := b.log.With("topic", s.topic, "group", s.group, "id", msg.ID,
		"stream_seq", md.Sequence.Stream, "deliveries", md.NumDelivered, "err", herr)
	if b.cfg.DeadLetterTopic != "" {
		dead := &broker.Message{ID: msg.ID + DeadLetterIDSuffix, Header: make(map[string]string, len(msg.Header)+4), Body: msg.Body}
		for k, v := range msg.Header {
			if k != broker.DeliveryHeader {
				dead.Header[k] = v
			}
		}
		dead.Header[DeadLetterTopicHeader] = s.topic
		dead.Header[DeadLetterIDHeader] = msg.ID
		dead.Header[DeadLetterReasonHeader] = headerText(herr.Error())
		dead.Header[DeadLetterDeliveriesHeader] = strconv.FormatUint(md.NumDelivered, 10)
		ctx, cancel := context.WithTimeout(s.ctx, time.Duration(b.cfg.AckWait)/2)
		err := b.Publish(ctx, b.cfg.DeadLetterTopic, dead)
		cancel()
		if err != nil {
			// The server gives up by itself and publishes its
			// MAX_DELIVERIES advisory.
			log.Error("nats: could not copy a message to the dead-letter topic; left to the server's MaxDeliver",
				"dead_letter_topic", b.cfg.DeadLetterTopic, "publish_err", err)
			_ = jm.Nak()
			return
		}
		b.stats.deadLettered.Add(1)
		log.Warn("nats: message given up on; copied to the dead-letter topic", "dead_letter_topic", b.cfg.DeadLetterTopic)
	} else {
		log.Warn("nats: message given up on after MaxDeliver attempts; terminated, it stays in the stream until its age limit")
	}
	b.stats.terminated.Add(1)
	_ = jm.Term()
}

// Headers of a dead-letter copy, and the suffix of its ID (a copy needs an
// ID of its own, or the stream would drop it as a duplicate).
const (
	DeadLetterTopicHeader      = "Micro-Dead-Letter-Topic"
	DeadLetterIDHeader         = "Micro-Dead-Letter-Id"
	DeadLetterReasonHeader     = "Micro-Dead-Letter-Reason"
	DeadLetterDeliveriesHeader = "Micro-Dead-Letter-Deliveries"
	DeadLetterIDSuffix         = "#dead-letter"
)

// headerText makes s fit in a header value: one line, trimmed, at most 512
// bytes.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512]
	}
	return strings.TrimSpace(s)
}

// keepAlive tells the server, every interval while a handler runs, that its
// message is still in progress, so that AckWait does not expire under it.
type keepAlive struct {
	mu    sync.Mutex
	t     *time.Timer
	ended bool
}

func startKeepAlive(jm *natsgo.Msg, every time.Duration) *keepAlive {
	k := new(keepAlive)
	if every <= 0 {
		return k
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t = time.AfterFunc(every, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.ended {
			return
		}
		_ = jm.InProgress()
		k.t.Reset(every)
	})
	return k
}

func (k *keepAlive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ended = true
	if k.t != nil {
		k.t.Stop()
	}
}
