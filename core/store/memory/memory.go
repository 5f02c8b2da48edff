// Package memory is an in-process store.Store: records live in a map of one
// process and are lost when it exits.
//
// A record with a TTL expires that long after its Write. Read and List never
// return an expired record, and remove the expired records they meet; a
// background goroutine also removes expired records every WithSweepInterval,
// so that records nobody reads again do not hold memory. Close stops that
// goroutine.
package memory

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/store"
)

// DefaultSweepInterval is how often expired records are removed unless
// WithSweepInterval says otherwise.
const DefaultSweepInterval = time.Minute

var _ store.Store = (*Store)(nil)

// Store is an in-process key-value store. Create one with New; it is safe for
// concurrent use. Close it to stop its background goroutine.
type Store struct {
	mu      sync.RWMutex
	records map[string]entry

	stop      chan struct{} // closed by Close
	swept     chan struct{} // closed when the sweep goroutine returns
	closeOnce sync.Once
}

// entry is a stored value and when it expires; a zero expires means never.
type entry struct {
	value   []byte
	expires time.Time
}

func (e entry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

type config struct {
	sweepInterval time.Duration
}

// Option configures a Store.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithSweepInterval sets how often the store removes expired records in the
// background. d <= 0 turns the sweep off: expired records are then removed
// only when Read or List meets them, or Delete or Write replaces
// them.
func WithSweepInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sweepInterval = d })
}

// New returns an empty store configured by opts.
func New(opts ...Option) *Store {
	cfg := config{sweepInterval: DefaultSweepInterval}
	for _, opt := range opts {
		opt.apply(&cfg)
	}
	s := &Store{
		records: make(map[string]entry),
		stop:    make(chan struct{}),
		swept:   make(chan struct{}),
	}
	if cfg.sweepInterval > 0 {
		go s.sweepEvery(cfg.sweepInterval)
	} else {
		close(s.swept)
	}
	return s
}

// Read returns a copy of the record stored under key, with the time it has
// left to live in TTL (zero when it does not expire), or store.ErrNotFound.
func (s *Store) Read(ctx context.Context, key string) (*store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	s.mu.RLock()
	e, ok := s.records[key]
	s.mu.RUnlock()
	if !ok {
		return nil, store.ErrNotFound
	}
	if e.expired(now) {
		s.mu.Lock()
		// Remove it unless a Write replaced it meanwhile.
		if cur, ok := s.records[key]; ok && cur.expired(now) {
			delete(s.records, key)
		}
		s.mu.Unlock()
		return nil, store.ErrNotFound
	}
	rec := &store.Record{Key: key, Value: bytes.Clone(e.value)}
	if !e.expires.IsZero() {
		rec.TTL = e.expires.Sub(now)
	}
	return rec, nil
}

// Write stores a copy of rec.Value under rec.Key, replacing any record there.
// A positive rec.TTL makes the record expire that long from now. An empty key
// or a negative TTL is an error.
func (s *Store) Write(ctx context.Context, rec *store.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := rec.Validate(); err != nil {
		return err
	}
	e := entry{value: bytes.Clone(rec.Value)}
	if rec.TTL > 0 {
		e.expires = time.Now().Add(rec.TTL)
	}
	s.mu.Lock()
	s.records[rec.Key] = e
	s.mu.Unlock()
	return nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.records, key)
	s.mu.Unlock()
	return nil
}

// List returns the keys of the live records that start with prefix, sorted.
// An empty prefix lists every key.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	keys := []string{}
	var expired []string
	s.mu.RLock()
	for k, e := range s.records {
		switch {
		case !strings.HasPrefix(k, prefix):
		case e.expired(now):
			expired = append(expired, k)
		default:
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	if len(expired) > 0 {
		s.mu.Lock()
		for _, k := range expired {
			// Remove it unless a Write replaced it meanwhile.
			if cur, ok := s.records[k]; ok && cur.expired(now) {
				delete(s.records, k)
			}
		}
		s.mu.Unlock()
	}
	slices.Sort(keys)
	return keys, nil
}

// Close stops the background sweep and waits for it to return. The store
// stays usable: expired records are still never returned, but are removed
// only when met. Close always returns nil; calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.swept
	return nil
}

func (s *Store) sweepEvery(d time.Duration) {
	defer close(s.swept)
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.sweep()
		}
	}
}

// sweep removes every expired record.
func (s *Store) sweep() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.records {
		if e.expired(now) {
			delete(s.records, k)
		}
	}
}
