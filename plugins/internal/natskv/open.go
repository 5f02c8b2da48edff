package natskv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/plugins/internal/natsconn"
)

// Bucket is a key-value bucket on a connection of its own, as the NATS
// registry and store hold theirs: it follows the bucket's stream for the
// plugin's in-memory index (Follow, Sync), deletes the keys of expired
// entries in the background (ReapLater), and once closed makes the
// plugin's errors its ErrClosed (Wrap).
type Bucket struct {
	Conn   *nats.Conn
	JS     jetstream.JetStream
	KV     jetstream.KeyValue
	Stream jetstream.Stream
	// Subject is what the subject of a key starts with: "$KV.<bucket>.".
	Subject string

	log       *slog.Logger
	errClosed error

	cons     jetstream.Consumer
	cc       jetstream.ConsumeContext
	progress Progress // of the stream, advanced after each applied message

	reap chan reapReq   // expired keys to delete
	done chan struct{}  // closed by Close
	wg   sync.WaitGroup // the reaper and the goroutines of Go

	mu     sync.Mutex
	closed bool
}

type reapReq struct {
	key string
	rev uint64
}

// Open connects with conn, opens the bucket of cfg, creating it when it
// does not exist, and starts the reaper. ctx bounds the connection and the
// set-up. errClosed is the plugin's error of a closed component; log
// receives the connection events and the failures met in the background.
func Open(ctx context.Context, conn natsconn.Settings, cfg BucketConfig, log *slog.Logger, errClosed error) (*Bucket, error) {
	nc, err := natsconn.Connect(ctx, conn, log)
	if err != nil {
		return nil, err
	}
	js, kv, stream, err := OpenBucket(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: key-value bucket %s: %w", cfg.Bucket, err)
	}
	b := &Bucket{
		Conn: nc, JS: js, KV: kv, Stream: stream,
		Subject:   "$KV." + cfg.Bucket + ".",
		log:       log,
		errClosed: errClosed,
		reap:      make(chan reapReq, 1024),
		done:      make(chan struct{}),
	}
	b.wg.Go(b.reaper)
	return b, nil
}

// Follow feeds the index of the plugin: it follows the bucket with one
// ordered consumer, from the last message of each key, and calls apply
// with each message and its key (the subject without Subject), one at a
// time, in the stream's order. With headersOnly the messages carry no
// data. On error the caller closes b.
func (b *Bucket) Follow(ctx context.Context, headersOnly bool, apply func(key string, seq uint64, m jetstream.Msg)) error {
	cons, err := b.JS.OrderedConsumer(ctx, b.Stream.CachedInfo().Config.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.Subject + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    headersOnly,
	})
	if err != nil {
		return fmt.Errorf("nats: key-value bucket %s: %w", b.KV.Bucket(), err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		apply(strings.TrimPrefix(m.Subject(), b.Subject), md.Sequence.Stream, m)
		b.progress.Applied(md.Sequence.Stream)
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		b.log.Debug("nats: index consumer", "err", err)
	}))
	if err != nil {
		return fmt.Errorf("nats: key-value bucket %s: %w", b.KV.Bucket(), err)
	}
	b.cons, b.cc = cons, cc
	return nil
}

// Sync waits until the index has applied every message the bucket held
// when Sync was called.
func (b *Bucket) Sync(ctx context.Context) error {
	return b.progress.Sync(ctx, b.Stream, b.cons)
}

// Closed reports whether Close has been called.
func (b *Bucket) Closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Done is closed when Close is called.
func (b *Bucket) Done() <-chan struct{} { return b.done }

// Go runs f in a goroutine that Close waits for; f returns once Done is
// closed.
func (b *Bucket) Go(f func()) { b.wg.Go(f) }

// Wrap is the error of operation op that failed with err: the plugin's
// ErrClosed once b is closed or its connection is.
func (b *Bucket) Wrap(op string, err error) error {
	if b.Closed() || errors.Is(err, nats.ErrConnectionClosed) {
		err = b.errClosed
	}
	return fmt.Errorf("nats: %s: %w", op, err)
}

// ReapLater asks the reaper to delete key, but only while it holds
// revision rev, so that a key written again meanwhile stays. A busy reaper
// drops the request: a later reader asks again.
func (b *Bucket) ReapLater(key string, rev uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	select {
	case b.reap <- reapReq{key, rev}:
	default:
	}
}

func (b *Bucket) reaper() {
	for req := range b.reap {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := b.KV.Delete(ctx, req.key, jetstream.LastRevision(req.rev))
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Debug("nats: could not delete an expired key", "key", req.key, "err", err)
		}
	}
}

// Close stops the reaper and the consumer of Follow, closes Done, calls
// then (for the plugin to stop what it runs on the index), waits for the
// goroutines of Go, and closes the connection once it has flushed what it
// holds. Only the first call does anything; it reports whether it was
// that one.
func (b *Bucket) Close(then func()) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.closed = true
	close(b.reap)
	close(b.done)
	b.mu.Unlock()
	if b.cc != nil {
		b.cc.Stop()
		<-b.cc.Closed()
	}
	if then != nil {
		then()
	}
	b.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.Conn.FlushWithContext(ctx)
	b.Conn.Close()
	return true
}

// Deleted reports whether the headers h are those of a delete or purge
// marker of the key-value protocol.
func Deleted(h nats.Header) bool {
	op := h.Get("KV-Operation")
	return op == "DEL" || op == "PURGE"
}

// Option configures a NATS plugin beyond its Config; a plugin's Option is
// this type.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger of the plugin; nil keeps slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Logger is the logger opts set, or slog.Default(), with args added.
func Logger(opts []Option, args ...any) *slog.Logger {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o.log.With(args...)
}
