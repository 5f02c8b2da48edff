// Package store defines a key-value store with per-record time to live and
// listing by key prefix.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by Read for a key that does not exist or expired.
var ErrNotFound = errors.New("store: not found")

// Record is one key and its value.
type Record struct {
	Key   string
	Value []byte
	// TTL is how long the record lives after Write; zero means forever.
	// Read reports the time left, rounded down, or zero for no expiry.
	TTL time.Duration
}

// Validate reports what makes rec unfit for Write: nil, an empty key or a
// negative TTL.
func (rec *Record) Validate() error {
	switch {
	case rec == nil:
		return errors.New("store: write: nil record; pass a *Record with a Key")
	case rec.Key == "":
		return errors.New("store: write: empty key; set Record.Key")
	case rec.TTL < 0:
		return fmt.Errorf("store: write %q: negative TTL %v; use 0 for a record that does not expire", rec.Key, rec.TTL)
	}
	return nil
}

// Store reads and writes records.
//
// Read returns ErrNotFound for a missing or expired key. Write creates or
// replaces a record. Delete removes a key; deleting a missing key is not an
// error. List returns the keys that start with prefix, sorted.
type Store interface {
	Read(ctx context.Context, key string) (*Record, error)
	Write(ctx context.Context, rec *Record) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
}
