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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
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
	ids brokerutil.IDs
	out *sync.Pool // of *outMsg
	ack *acker

	stats counters

	base   context.Context // parent of handler contexts; cancelled by Close
	cancel context.CancelFunc

	closing atomic.Bool // set by Close, read by Publish without locking

	subs brokerutil.Subscriptions[*subscription]

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
		cfg: cfg,
		log: o.log.With("broker", "nats", "mode", cfg.Mode),
		out: newOutPool(),
		ack: newAcker(),
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
	return natsconn.Connect(ctx, cfg.Connection, log, opts...)
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
	b.subs.Each(func(sub *subscription) { s.Dropped += sub.dropped() })
	return s
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

	s.ctx, s.cancel = context.WithCancel(b.base)
	if !b.subs.Add(s, 0) {
		s.cancel()
		return nil, broker.ErrClosed
	}

	var err error
	if b.js == nil {
		err = s.startCore(ctx)
	} else {
		err = s.startJS(ctx)
	}
	if err != nil {
		s.cancel()
		b.subs.Remove(s)
		return nil, b.mapErr("subscribe to "+topic, err)
	}
	return s, nil
}

// Close ends every subscription, waiting for their handlers until ctx
// ends, and closes the connection. Publish and Subscribe then return
// broker.ErrClosed.
func (b *Broker) Close(ctx context.Context) error {
	subs, first := b.subs.Close()
	if !first {
		return nil
	}
	b.closing.Store(true)

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
