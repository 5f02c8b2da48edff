// Package nats is a store.Store on a NATS JetStream key-value bucket
// (https://docs.nats.io/nats-concepts/jetstream/key-value-store).
//
// A record is the latest message of its key in the bucket: the value is the
// message data, as is, and a record with a TTL carries its expiry in the
// header Micro-Expires. Keys are escaped into key-value keys, '/' becoming
// the token separator '.', so that List asks the server only for the keys
// under the last '/' of its prefix (see the package README for the
// format).
//
// # Expiry
//
// A bucket has one age limit for all its keys, and per-key time to live
// needs NATS server 2.11; this store works with 2.9 and later by keeping
// each record's expiry in its header. Read and List treat a record whose
// expiry has passed as absent and delete it (only if it was not written
// again in the meantime); a sweep every Config.SweepInterval deletes those
// nobody reads. Expiry is compared with the reader's clock, so the clocks of
// the machines that share a bucket must agree within a small part of the
// TTLs used.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/internal/natskv"
)

// ExpiresHeader is the message header that holds a record's expiry, in
// RFC 3339 with nanoseconds, UTC. A record without it never expires.
const ExpiresHeader = "Micro-Expires"

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("nats: store closed")

// ErrInvalidKey is returned, wrapped, for a key the store cannot hold: an
// empty one, or one whose escaped form is too long for a NATS subject.
var ErrInvalidKey = errors.New("nats: invalid key")

var _ store.Store = (*Store)(nil)

// Option configures what a Config cannot: Go values.
type Option = natskv.Option

// WithLogger sets the logger for connection events and failed sweeps.
// Default slog.Default().
func WithLogger(l *slog.Logger) Option { return natskv.WithLogger(l) }

// Store is a store.Store on a NATS key-value bucket. Create it with New; it
// is safe for concurrent use. Close it to release its connection.
type Store struct {
	cfg   Config
	log   *slog.Logger
	b     *natskv.Bucket
	index *index
}

// New connects to the server of cfg and opens the bucket, creating it when
// it does not exist. ctx bounds the connection and the set-up.
func New(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := natskv.Logger(opts, "store", "nats", "bucket", cfg.Bucket)
	b, err := natskv.Open(ctx, cfg.Connection, cfg.bucket(), log, ErrClosed)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: log, b: b, index: newIndex()}
	if err := b.Follow(ctx, true, s.index.apply); err != nil {
		b.Close(nil)
		return nil, err
	}
	if cfg.SweepInterval > 0 {
		b.Go(s.sweeper)
	}
	return s, nil
}

func (s *Store) isClosed() bool { return s.b.Closed() }

func (s *Store) wrap(op, key string, err error) error {
	return s.b.Wrap(op+" "+strconv.Quote(key), err)
}

// kvKey returns the key-value key of a record key, or an error for a key
// the store cannot hold.
func (s *Store) kvKey(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	k := encodeKey(key)
	if len(s.b.Subject)+len(k) > maxSubject {
		return "", fmt.Errorf("%w: key of %d bytes is %d bytes escaped, more than the %d a NATS subject may hold here",
			ErrInvalidKey, len(key), len(k), maxSubject-len(s.b.Subject))
	}
	return k, nil
}

// entry is what the store reads of a message.
type entry struct {
	deleted bool
	expires time.Time // zero: never
}

func readEntry(h natsgo.Header) (entry, error) {
	var e entry
	if natskv.Deleted(h) {
		e.deleted = true
		return e, nil
	}
	if v := h.Get(ExpiresHeader); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return e, fmt.Errorf("header %s: %w", ExpiresHeader, err)
		}
		e.expires = t
	}
	return e, nil
}

func (e entry) expired(now time.Time) bool { return !e.expires.IsZero() && !now.Before(e.expires) }

// Read returns the record stored under key, with the time it has left to
// live in TTL (zero when it does not expire), or store.ErrNotFound.
func (s *Store) Read(ctx context.Context, key string) (*store.Record, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	k, err := s.kvKey(key)
	if err != nil {
		return nil, err
	}
	msg, err := s.b.Stream.GetLastMsgForSubject(ctx, s.b.Subject+k)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, s.wrap("read", key, err)
	}
	e, err := readEntry(msg.Header)
	if err != nil {
		return nil, s.wrap("read", key, err)
	}
	now := time.Now()
	switch {
	case e.deleted:
		return nil, store.ErrNotFound
	case e.expired(now):
		s.b.ReapLater(k, msg.Sequence)
		return nil, store.ErrNotFound
	}
	rec := &store.Record{Key: key, Value: msg.Data}
	if !e.expires.IsZero() {
		rec.TTL = e.expires.Sub(now)
	}
	return rec, nil
}

// Write stores rec.Value under rec.Key, replacing any record there; a
// positive rec.TTL makes it expire that long from now. It returns once the
// server has stored it. An empty key or a negative TTL is an error.
func (s *Store) Write(ctx context.Context, rec *store.Record) error {
	if rec == nil {
		return errors.New("nats: write: nil record")
	}
	if rec.TTL < 0 {
		return fmt.Errorf("nats: write %q: negative TTL %v", rec.Key, rec.TTL)
	}
	if s.isClosed() {
		return ErrClosed
	}
	k, err := s.kvKey(rec.Key)
	if err != nil {
		return err
	}
	m := &natsgo.Msg{Subject: s.b.Subject + k, Data: rec.Value}
	if rec.TTL > 0 {
		m.Header = natsgo.Header{ExpiresHeader: {time.Now().Add(rec.TTL).UTC().Format(time.RFC3339Nano)}}
	}
	if _, err := s.b.JS.PublishMsg(ctx, m); err != nil {
		return s.wrap("write", rec.Key, err)
	}
	return nil
}

// Delete removes key, leaving the key-value delete marker. Deleting a
// missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if s.isClosed() {
		return ErrClosed
	}
	k, err := s.kvKey(key)
	if err != nil {
		return err
	}
	if err := s.b.KV.Delete(ctx, k); err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}

// List returns the keys of the live records that start with prefix, sorted.
// An empty prefix lists every key. It answers from the store's index of
// the bucket, once the index holds every write that completed before List
// was called.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := s.b.Sync(ctx); err != nil {
		return nil, s.wrap("list", prefix, err)
	}
	keys, expired := s.index.list(prefix, time.Now())
	for _, r := range expired {
		s.b.ReapLater(r.kvKey, r.rev)
	}
	if keys == nil {
		keys = []string{}
	}
	slices.Sort(keys)
	return keys, nil
}

// markerAge is how old a delete marker must be for the sweep to purge it.
const markerAge = time.Hour

// sweeper deletes, every SweepInterval, the expired records of the whole
// bucket (as the index knows them) and the delete markers older than
// markerAge.
func (s *Store) sweeper() {
	t := time.NewTicker(time.Duration(s.cfg.SweepInterval))
	defer t.Stop()
	for {
		select {
		case <-s.b.Done():
			return
		case <-t.C:
		}
		_, expired := s.index.list("", time.Now())
		for _, r := range expired {
			s.b.ReapLater(r.kvKey, r.rev)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := s.b.KV.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(markerAge))
		cancel()
		if err != nil && !s.isClosed() {
			s.log.Warn("nats: purging old delete markers failed", "err", err)
		}
	}
}

// Close stops the sweep and closes the connection. The store is unusable
// afterwards: its methods return ErrClosed.
func (s *Store) Close() error {
	s.b.Close(nil)
	return nil
}
