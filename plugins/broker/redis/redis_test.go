package redis_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/redis"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL is the Redis server of the tests: $MICRO_TEST_REDIS, else the
// default.
func testURL() string { return plugintest.RedisURL() }

// client returns a client of the test server, failing t when the server does
// not answer.
func client(t testing.TB) *goredis.Client { return plugintest.Redis(t) }

// testPrefix returns a key prefix unique to t and deletes every key under
// it when t ends.
func testPrefix(t testing.TB) string { return plugintest.RedisPrefix(t, "microtest:broker:", nil) }

// fastConfig is a Config with short times, for tests.
func fastConfig(prefix string) redis.Config {
	return redis.Config{
		Connection:      redis.Connection{URL: testURL()},
		Prefix:          prefix,
		Block:           redis.Duration(time.Second),
		MinIdle:         redis.Duration(time.Second),
		ClaimInterval:   redis.Duration(100 * time.Millisecond),
		RedeliveryDelay: redis.Duration(50 * time.Millisecond),
		ReapAfter:       redis.Duration(10 * time.Second),
	}
}

// quietLogger drops what the broker logs below the error level.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// newBroker returns a broker of cfg that is closed when t ends.
func newBroker(t testing.TB, cfg redis.Config, opts ...redis.Option) *redis.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redis.New(ctx, cfg, append([]redis.Option{redis.WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	brokertest.CloseAtEnd(t, b)
	return b
}

func TestConformance(t *testing.T) {
	client(t)
	tests := []struct {
		name string
		cfg  func(prefix string) redis.Config
	}{
		{"default", fastConfig},
		{"prefetch 1 no cap", func(prefix string) redis.Config {
			cfg := fastConfig(prefix)
			cfg.Prefetch = 1
			cfg.MaxLen = -1
			return cfg
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := testPrefix(t)
			brokertest.Run(t, func(t *testing.T) broker.Broker {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				b, err := redis.New(ctx, tt.cfg(prefix), redis.WithLogger(quietLogger()))
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return b
			})
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  redis.Config
		want string // in the error; "" for none
	}{
		{"defaults", redis.Config{Connection: redis.Connection{URL: testURL()}}, ""},
		{"bad URL", redis.Config{Connection: redis.Connection{URL: "http://example.com"}}, "Config.URL"},
		{"bad MaxLen", redis.Config{Connection: redis.Connection{URL: testURL()}, MaxLen: -2}, "Config.MaxLen"},
		{"bad Prefetch", redis.Config{Connection: redis.Connection{URL: testURL()}, Prefetch: -1}, "Config.Prefetch"},
		{"bad MinIdle", redis.Config{Connection: redis.Connection{URL: testURL()}, MinIdle: redis.Duration(time.Millisecond)}, "Config.MinIdle"},
		{"bad Block", redis.Config{Connection: redis.Connection{URL: testURL()}, Block: -1}, "Config.Block"},
		{"bad RedeliveryDelay", redis.Config{Connection: redis.Connection{URL: testURL()}, RedeliveryDelay: -1}, "Config.RedeliveryDelay"},
		{"ReapAfter too short", redis.Config{Connection: redis.Connection{URL: testURL()}, ReapAfter: redis.Duration(time.Second)}, "Config.ReapAfter"},
		{"bad MaxDeliveries", redis.Config{Connection: redis.Connection{URL: testURL()}, MaxDeliveries: -3}, "Config.MaxDeliveries"},
		{"no limit", redis.Config{Connection: redis.Connection{URL: testURL()}, MaxDeliveries: -1, MaxLen: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b, err := redis.New(ctx, tt.cfg)
			if err == nil {
				b.Close(ctx)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	var cfg redis.Config
	in := `{"url":"redis://127.0.0.1:6379/2","prefix":"p:","max_len":-1,"prefetch":8,"block":"2s",
		"min_idle":"1m","claim_interval":"10s","redelivery_delay":"500ms","max_deliveries":3,"reap_after":"2h"}`
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := redis.Config{
		Connection: redis.Connection{URL: "redis://127.0.0.1:6379/2"}, Prefix: "p:", MaxLen: -1, Prefetch: 8,
		Block: redis.Duration(2 * time.Second), MinIdle: redis.Duration(time.Minute),
		ClaimInterval: redis.Duration(10 * time.Second), RedeliveryDelay: redis.Duration(500 * time.Millisecond),
		MaxDeliveries: 3, ReapAfter: redis.Duration(2 * time.Hour),
	}
	if cfg != want {
		t.Errorf("decoded %+v, want %+v", cfg, want)
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var again redis.Config
	if err := json.Unmarshal(out, &again); err != nil || again != cfg {
		t.Errorf("round trip through %s = %+v, %v", out, again, err)
	}

	// The plugin binary decodes its settings strictly.
	for _, bad := range []string{`{"urll":"x"}`, `{"block":"soon"}`, `{"block":true}`} {
		if err := plugin.DecodeSettings([]byte(bad), new(redis.Config)); err == nil {
			t.Errorf("DecodeSettings(%s) accepted it", bad)
		}
	}
}

func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := redis.New(ctx, redis.Config{Connection: redis.Connection{URL: "redis://user:secret@127.0.0.1:1/0"}})
	if err == nil {
		t.Fatal("New succeeded without a server")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the server: %v", err)
	}
}

func TestClosed(t *testing.T) {
	b := newBroker(t, fastConfig(testPrefix(t)))
	ctx := t.Context()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "t", &broker.Message{}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close = %v", err)
	}
}

// killClients closes, on the server, every connection named name.
func killClients(t *testing.T, c *goredis.Client, name string) int {
	t.Helper()
	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		var id string
		named := false
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			if err := c.Do(t.Context(), "CLIENT", "KILL", "ID", id).Err(); err == nil {
				killed++
			}
		}
	}
	return killed
}

// A subscription whose connection is cut reconnects and goes on where its
// group left off: nothing published meanwhile is lost.
func TestReconnect(t *testing.T) {
	prefix := testPrefix(t)
	cfg := fastConfig(prefix)
	name := "microtest-" + hex.EncodeToString([]byte(prefix))[:12]
	sep := "?"
	if strings.Contains(cfg.URL, "?") {
		sep = "&"
	}
	cfg.URL += sep + "client_name=" + name
	b := newBroker(t, cfg)
	got := new(collector)
	brokertest.Subscribe(t, b, "reconnect", got.handler)
	brokertest.Subscribe(t, b, "reconnect", got.handler, broker.Queue("workers"))
	c := client(t)
	for round := range 3 {
		if err := b.Publish(t.Context(), "reconnect", &broker.Message{Body: []byte("before")}); err != nil {
			t.Fatal(err)
		}
		got.wait(t, 4*round+2, 10*time.Second)
		if n := killClients(t, c, name); n < 2 {
			t.Fatalf("killed %d connections, want at least the two subscriptions'", n)
		}
		// Published while the subscriptions reconnect.
		if err := b.Publish(t.Context(), "reconnect", &broker.Message{Body: []byte("after")}); err != nil {
			t.Fatalf("Publish after the connections were cut: %v", err)
		}
		got.wait(t, 4*round+4, 10*time.Second)
	}
}
