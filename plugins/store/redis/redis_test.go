package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/core/store/storetest"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	"github.com/seedmicro/micro/plugins/store/redis"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testPrefix returns a key prefix unique to t and deletes every key under
// it when t ends.
func testPrefix(t testing.TB) string {
	return plugintest.RedisPrefix(t, "microtest:store:[*?]", redis.EscapeGlob)
}

func newStore(t testing.TB, cfg redis.Config) *redis.Store {
	t.Helper()
	return settingstest.Open(t, newFn, cfg)
}

func newFn(ctx context.Context, cfg redis.Config) (*redis.Store, error) { return redis.New(ctx, cfg) }

func TestConformance(t *testing.T) {
	plugintest.Redis(t)
	tests := []struct {
		name string
		cfg  func(t *testing.T) redis.Config
	}{
		{"prefix with glob characters", func(t *testing.T) redis.Config {
			return redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(t)}
		}},
		{"scan count 3", func(t *testing.T) redis.Config {
			return redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(t), ScanCount: 3}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(t)
			storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, cfg) })
		})
	}
}

// The default prefix and the empty-prefix List over a shared database.
func TestDefaultPrefix(t *testing.T) {
	plugintest.Redis(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}})
	})
}

func TestWireFormat(t *testing.T) {
	prefix := testPrefix(t)
	s := newStore(t, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix})
	c := plugintest.Redis(t)
	ctx := t.Context()
	if err := s.Write(ctx, &store.Record{Key: "users/1", Value: []byte("ada"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, prefix+"users/1").Result(); err != nil || v != "ada" {
		t.Errorf("GET %susers/1 = %q, %v; want ada", prefix, v, err)
	}
	if ttl, err := c.PTTL(ctx, prefix+"users/1").Result(); err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL = %v, %v; want about an hour", ttl, err)
	}
	// Written by another program.
	if err := c.Set(ctx, prefix+"users/2", "grace", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(ctx, "users/2")
	if err != nil || string(rec.Value) != "grace" || rec.TTL != 0 {
		t.Errorf("Read(users/2) = %+v, %v", rec, err)
	}
	keys, err := s.List(ctx, "users/")
	if err != nil || !slices.Equal(keys, []string{"users/1", "users/2"}) {
		t.Errorf("List = %q, %v", keys, err)
	}
}

func TestEscapeGlob(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain/key:1", "plain/key:1"},
		{"a*b?c", `a\*b\?c`},
		{"[x]", `\[x\]`},
		{`back\slash`, `back\\slash`},
		{"^-!", "^-!"},
		{"ünï*", `ünï\*`},
	}
	for _, tt := range tests {
		if got := redis.EscapeGlob(tt.in); got != tt.want {
			t.Errorf("EscapeGlob(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfig(t *testing.T) {
	settingstest.Check(t, newFn, []settingstest.Case[redis.Config]{
		{Name: "defaults", Config: redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}}, Field: ""},
		{Name: "bad URL", Config: redis.Config{Connection: redis.Connection{URL: "mysql://x"}}, Field: "URL"},
		{Name: "bad ScanCount", Config: redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, ScanCount: -1}, Field: "ScanCount"},
	})

	var cfg redis.Config
	if err := json.Unmarshal([]byte(`{"url":"redis://h:1/2","prefix":"p:","scan_count":10}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg != (redis.Config{Connection: redis.Connection{URL: "redis://h:1/2"}, Prefix: "p:", ScanCount: 10}) {
		t.Errorf("decoded %+v", cfg)
	}
	if err := plugin.DecodeSettings([]byte(`{"prefx":"p:"}`), new(redis.Config)); err == nil {
		t.Error("DecodeSettings accepted an unknown field")
	}
}

func TestUnreachable(t *testing.T) {
	settingstest.Unreachable(t, func(ctx context.Context, url string) (*redis.Store, error) {
		return redis.New(ctx, redis.Config{Connection: redis.Connection{URL: url}})
	}, "redis://:secret@127.0.0.1:1/0", "127.0.0.1:1")
}

func TestInvalidRecords(t *testing.T) {
	s := newStore(t, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(t)})
	for _, rec := range []*store.Record{nil, {Key: ""}, {Key: "k", TTL: -time.Second}} {
		if err := s.Write(t.Context(), rec); err == nil {
			t.Errorf("Write(%+v) accepted it", rec)
		}
	}
	if _, err := s.Read(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read(missing) = %v", err)
	}
}
