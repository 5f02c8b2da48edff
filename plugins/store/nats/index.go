package nats

import (
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// index keeps the keys of the bucket with their expiry, as the Bucket's
// consumer delivers their headers, so that List needs no consumer of its
// own: creating a consumer per List costs the server far more than a key
// lookup.
type index struct {
	mu   sync.Mutex
	keys map[string]indexEntry // by key-value key
}

type indexEntry struct {
	key     string // the record key
	seq     uint64
	expires time.Time
}

// stale is the key-value key of an expired record and its revision.
type stale struct {
	kvKey string
	rev   uint64
}

func newIndex() *index { return &index{keys: make(map[string]indexEntry)} }

// apply records one message of the bucket.
func (ix *index) apply(kvKey string, seq uint64, m jetstream.Msg) {
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
		ix.keys[kvKey] = indexEntry{key: key, seq: seq, expires: e.expires}
	}
}

// list returns the keys of the index starting with prefix, and the ones
// that expired.
func (ix *index) list(prefix string, now time.Time) (live []string, expired []stale) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for kvKey, e := range ix.keys {
		if !strings.HasPrefix(e.key, prefix) {
			continue
		}
		if !e.expires.IsZero() && !now.Before(e.expires) {
			expired = append(expired, stale{kvKey, e.seq})
			continue
		}
		live = append(live, e.key)
	}
	return live, expired
}
