package nats

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// index follows the bucket with one ordered consumer that delivers message
// headers only, and keeps the keys of the bucket with their expiry, so that
// List needs no consumer of its own: creating a consumer per List costs the
// server far more than a key lookup.
type index struct {
	s    *Store
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext

	mu        sync.Mutex
	keys      map[string]indexEntry // by key-value key
	processed uint64                // highest stream sequence applied
	progress  chan struct{}         // closed and replaced when processed grows
}

type indexEntry struct {
	key     string // the record key
	seq     uint64
	expires time.Time
}

func newIndex(ctx context.Context, s *Store) (*index, error) {
	cons, err := s.js.OrderedConsumer(ctx, s.stream.CachedInfo().Config.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.subj + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    true,
	})
	if err != nil {
		return nil, err
	}
	ix := &index{s: s, cons: cons, keys: make(map[string]indexEntry), progress: make(chan struct{})}
	ix.cc, err = cons.Consume(ix.apply, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("nats: key index consumer", "err", err)
	}))
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// apply records one message of the bucket.
func (ix *index) apply(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	kvKey := strings.TrimPrefix(m.Subject(), ix.s.subj)
	e, herr := readEntry(m.Headers())
	key, kerr := decodeKey(kvKey)

	ix.mu.Lock()
	defer ix.mu.Unlock()
	switch {
	case herr != nil || kerr != nil:
		// Not a record of this store's making: not listed.
		delete(ix.keys, kvKey)
	case e.deleted:
		delete(ix.keys, kvKey)
	default:
		ix.keys[kvKey] = indexEntry{key: key, seq: md.Sequence.Stream, expires: e.expires}
	}
	if md.Sequence.Stream > ix.processed {
		ix.processed = md.Sequence.Stream
		close(ix.progress)
		ix.progress = make(chan struct{})
	}
}

// waitFor waits until the index has applied sequence seq, for at most d.
// It reports whether it has.
func (ix *index) waitFor(ctx context.Context, seq uint64, d time.Duration) (bool, error) {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		ix.mu.Lock()
		done, progress := ix.processed >= seq, ix.progress
		ix.mu.Unlock()
		if done {
			return true, nil
		}
		select {
		case <-progress:
		case <-timeout.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// sync waits until the index holds every message the stream held when sync
// was called: up to the stream's last sequence or, when that message is
// gone (purged) and so never arrives, until the consumer has nothing
// pending.
func (ix *index) sync(ctx context.Context) error {
	info, err := ix.s.stream.Info(ctx)
	if err != nil {
		return err
	}
	if ok, err := ix.waitFor(ctx, info.State.LastSeq, 250*time.Millisecond); ok || err != nil {
		return err
	}
	for {
		ci, err := ix.cons.Info(ctx)
		switch {
		case errors.Is(err, jetstream.ErrOrderedConsumerNotCreated), errors.Is(err, jetstream.ErrConsumerNotFound):
			// Being created again after a reset.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		case err != nil:
			return err
		}
		target := ci.Delivered.Stream
		if ci.NumPending > 0 {
			target++ // wait for more to arrive
		}
		ok, err := ix.waitFor(ctx, target, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if ok && ci.NumPending == 0 {
			return nil
		}
	}
}

// list returns the keys of the index starting with prefix, and the ones
// that expired.
func (ix *index) list(prefix string, now time.Time) (live []string, expired []reapReq) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for kvKey, e := range ix.keys {
		if !strings.HasPrefix(e.key, prefix) {
			continue
		}
		if !e.expires.IsZero() && !now.Before(e.expires) {
			expired = append(expired, reapReq{kvKey, e.seq})
			continue
		}
		live = append(live, e.key)
	}
	return live, expired
}

func (ix *index) stop() {
	ix.cc.Stop()
	<-ix.cc.Closed()
}
