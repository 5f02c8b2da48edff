// Package redis is a store.Store on Redis: one Redis string per record, with
// the record's TTL as the key's expiry.
//
// A record with key k is the Redis key Config.Prefix + k ("micro:store:k")
// holding the value as it is. Write is SET (with PX for a TTL, without to
// clear one), Read is GET and PTTL in one MULTI, Delete is DEL, and List is
// SCAN MATCH over the prefix, with the glob characters of the prefix
// escaped, sorted. Expiry is Redis's own: an expired record is never read
// or listed.
package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/internal/redisconn"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL        = redisconn.DefaultURL
	DefaultPrefix     = "micro:store:"
	DefaultScanCount  = 1000
	DefaultClientName = "micro-store-redis"
)

// Config holds the settings of a Store. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON.
type Config struct {
	// Connection holds the url setting, the Redis server:
	// redis://[user:password@]host:port/db, or rediss:// for TLS, with
	// the query parameters of go-redis's ParseURL (pool_size,
	// dial_timeout, read_timeout, client_name, skip_verify, ...).
	// Default DefaultURL.
	Connection

	// Prefix is put in front of every key: the record "users/1" is the
	// Redis key "micro:store:users/1". Default DefaultPrefix.
	Prefix string `json:"prefix,omitempty"`
	// ScanCount is the COUNT hint of the SCAN commands of List: how many
	// keys of the database Redis looks at per call. Default
	// DefaultScanCount.
	ScanCount int `json:"scan_count,omitempty"`
}

func (c Config) withDefaults() Config {
	c.Connection = c.Connection.WithDefaults()
	settings.SetDefault(&c.Prefix, DefaultPrefix)
	settings.SetDefault(&c.ScanCount, DefaultScanCount)
	return c
}

func (c Config) validate() error {
	if err := c.Connection.Validate("store/redis"); err != nil {
		return err
	}
	if c.ScanCount < 1 {
		return badField("ScanCount", "%d; want at least 1", c.ScanCount)
	}
	return nil
}

// Connection is the connection part of a Config, the same in every Redis
// plugin: the url setting.
type Connection = redisconn.Settings

func badField(field, format string, args ...any) error {
	return redisconn.Invalid("store/redis", field, format, args...)
}

// Option configures a Store beyond its Config.
type Option = redisconn.Option

// WithClient makes the store use c instead of connecting to Config.URL;
// Close then leaves c open.
func WithClient(c *goredis.Client) Option { return redisconn.WithClient(c) }

var _ store.Store = (*Store)(nil)

// Store is a store.Store on Redis. Create it with New; it is safe for
// concurrent use. Close it to release its connections.
type Store struct {
	cfg    Config
	conn   *redisconn.Conn
	client *goredis.Client
}

// New connects to the Redis server of cfg.URL (or uses WithClient) and
// returns a Store. It fails when cfg is invalid or the server does not
// answer a PING within ctx.
func New(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conn, err := redisconn.Dial(ctx, "store/redis", DefaultClientName, cfg.Connection, opts)
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, conn: conn, client: conn.Client}, nil
}

// Client returns the go-redis client of the store.
func (s *Store) Client() *goredis.Client { return s.client }

// Close releases the connections, unless the client came from WithClient.
func (s *Store) Close() error { return s.conn.Close() }

// Read returns the record of key, with the time it has left to live
// (millisecond resolution), or store.ErrNotFound.
func (s *Store) Read(ctx context.Context, key string) (*store.Record, error) {
	var (
		get  *goredis.StringCmd
		pttl *goredis.DurationCmd
	)
	k := s.cfg.Prefix + key
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, k)
		pttl = p.PTTL(ctx, k)
		return nil
	})
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store/redis: read %q: %w", key, err)
	}
	value, err := get.Bytes()
	if err != nil {
		return nil, fmt.Errorf("store/redis: read %q: %w", key, err)
	}
	rec := &store.Record{Key: key, Value: value}
	// PTTL is -1 for a key without expiry; in the same MULTI as a GET that
	// found the key it cannot be -2.
	if ttl := pttl.Val(); ttl > 0 {
		rec.TTL = ttl
	}
	return rec, nil
}

// Write creates or replaces the record rec.Key. A TTL below one millisecond
// (but above zero) is rounded up to one; a zero TTL makes the record
// permanent, also when it replaces one with a TTL.
func (s *Store) Write(ctx context.Context, rec *store.Record) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	ttl := rec.TTL
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	value := rec.Value
	if value == nil {
		value = []byte{}
	}
	if err := s.client.Set(ctx, s.cfg.Prefix+rec.Key, value, ttl).Err(); err != nil {
		return fmt.Errorf("store/redis: write %q: %w", rec.Key, err)
	}
	return nil
}

// Delete removes key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.cfg.Prefix+key).Err(); err != nil {
		return fmt.Errorf("store/redis: delete %q: %w", key, err)
	}
	return nil
}

// List returns the keys that start with prefix, sorted; an empty prefix
// lists every key of the store. It SCANs the whole database (with MATCH),
// so its cost grows with the number of keys in the database, not only in
// the store.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	pattern := EscapeGlob(s.cfg.Prefix+prefix) + "*"
	seen := make(map[string]struct{})
	var cursor uint64
	for {
		keys, next, err := s.client.Scan(ctx, cursor, pattern, int64(s.cfg.ScanCount)).Result()
		if err != nil {
			return nil, fmt.Errorf("store/redis: list %q: %w", prefix, err)
		}
		for _, k := range keys {
			seen[k] = struct{}{} // SCAN may return a key twice
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		if rest, ok := strings.CutPrefix(k, s.cfg.Prefix); ok {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out, nil
}

// EscapeGlob escapes the characters that are special in a Redis glob
// pattern (* ? [ ] \), so that the pattern matches s literally.
func EscapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
