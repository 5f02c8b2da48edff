package nats

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/plugins/internal/natskv"
)

// index follows the bucket with one ordered consumer that delivers message
// headers only, and keeps the keys of the bucket with their expiry, so that
// List needs no consumer of its own: creating a consumer per List costs the
// server far more than a key lookup.
type index struct {
	s    *Store
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext

	mu       sync.Mutex
	keys     map[string]indexEntry // by key-value key
	progress natskv.Progress       // of the stream; advanced under mu
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
	ix := &index{s: s, cons: cons, keys: make(map[string]indexEntry)}
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
	ix.progress.Applied(md.Sequence.Stream)
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

// sync waits until the index holds every message the bucket held when sync
// was called.
func (ix *index) sync(ctx context.Context) error {
	return ix.progress.Sync(ctx, ix.s.stream, ix.cons)
}
