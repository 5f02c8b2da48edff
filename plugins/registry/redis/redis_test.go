package redis_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/registrytest"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	"github.com/seedmicro/micro/plugins/registry/redis"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testPrefix returns a key prefix unique to t and deletes every key under
// it when t ends.
func testPrefix(t testing.TB) string { return plugintest.RedisPrefix(t, "microtest:registry:", nil) }

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newRegistry(t testing.TB, cfg redis.Config) *redis.Registry {
	t.Helper()
	return settingstest.Open(t, func(ctx context.Context, cfg redis.Config) (*redis.Registry, error) {
		return redis.New(ctx, cfg, redis.WithLogger(quietLogger()))
	}, cfg)
}

func TestConformance(t *testing.T) {
	plugintest.Redis(t)
	tests := []struct {
		name string
		cfg  func(prefix string) redis.Config
	}{
		{"default", func(prefix string) redis.Config {
			return redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix}
		}},
		{"fast sweep", func(prefix string) redis.Config {
			return redis.Config{
				Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix,
				SweepInterval: redis.Duration(50 * time.Millisecond), ResyncInterval: redis.Duration(time.Second),
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(testPrefix(t))
			registrytest.Run(t, func(t *testing.T) registry.Registry { return newRegistry(t, cfg) })
		})
	}
}

// Two registries with the same server and prefix, as two processes would,
// see each other's services and changes.
func TestShared(t *testing.T) {
	prefix := testPrefix(t)
	cfg := redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix, SweepInterval: redis.Duration(100 * time.Millisecond)}
	a, b := newRegistry(t, cfg), newRegistry(t, cfg)
	ctx := t.Context()
	w := registrytest.Watch(t, ctx, b, registry.WatchService("greeter"))

	svc := &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: "n1", Address: "10.0.0.1:8080"}}}
	if err := a.Register(ctx, svc, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, err := b.Lookup(ctx, "greeter")
	if err != nil || len(got) != 1 || got[0].Nodes[0].Address != "10.0.0.1:8080" {
		t.Fatalf("Lookup in the other registry = %+v, %v", got, err)
	}
	for _, want := range []registry.EventType{registry.Added, registry.Removed} {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != want || ev.Service.Name != "greeter" {
			t.Fatalf("event %v %s, want %v", ev.Type, ev.Service.Name, want)
		}
	}
}

// The keys, fields and channel are as documented.
func TestWireFormat(t *testing.T) {
	prefix := testPrefix(t)
	r := newRegistry(t, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix})
	c := plugintest.Redis(t)
	ctx := t.Context()
	ps := c.Subscribe(ctx, prefix+"events")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	svc := &registry.Service{
		Name: "odd:name%", Version: "1:0", Metadata: map[string]string{"k": "v"},
		Nodes: []*registry.Node{{ID: "n:1", Address: "127.0.0.1:1"}},
	}
	if err := r.Register(ctx, svc, time.Minute); err != nil {
		t.Fatal(err)
	}
	announced := func(op string, nodes ...string) {
		t.Helper()
		m, err := ps.ReceiveTimeout(ctx, 10*time.Second)
		if err != nil {
			t.Fatalf("waiting for a %s announcement: %v", op, err)
		}
		msg, ok := m.(*goredis.Message)
		if !ok {
			t.Fatalf("received %T, want a message", m)
		}
		var a redis.Announcement
		if err := json.Unmarshal([]byte(msg.Payload), &a); err != nil {
			t.Fatalf("announcement %s: %v", msg.Payload, err)
		}
		var ids []string
		for _, n := range a.Service.Nodes {
			ids = append(ids, n.ID)
		}
		if a.Op != op || a.Service.Name != "odd:name%" || a.Service.Version != "1:0" || !slices.Equal(ids, nodes) {
			t.Errorf("announcement %s; want %s of %v", msg.Payload, op, nodes)
		}
	}
	announced(redis.OpRegister, "n:1")
	nodeKey := prefix + "node:odd%3Aname%25:1%3A0:n%3A1"
	fields, err := c.HGetAll(ctx, nodeKey).Result()
	if err != nil || len(fields) != 3 {
		t.Fatalf("HGETALL %s = %v, %v", nodeKey, fields, err)
	}
	var head registry.Service
	var node registry.Node
	if json.Unmarshal([]byte(fields["service"]), &head) != nil || head.Name != "odd:name%" || head.Metadata["k"] != "v" || len(head.Nodes) != 0 {
		t.Errorf("field service = %s", fields["service"])
	}
	if json.Unmarshal([]byte(fields["node"]), &node) != nil || node.ID != "n:1" || node.Address != "127.0.0.1:1" {
		t.Errorf("field node = %s", fields["node"])
	}
	if ttl := c.PTTL(ctx, nodeKey).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL = %v", ttl)
	}
	if ok, _ := c.SIsMember(ctx, prefix+"service:odd%3Aname%25", nodeKey).Result(); !ok {
		t.Error("node key not in the service's index")
	}
	if ok, _ := c.SIsMember(ctx, prefix+"services", "odd:name%").Result(); !ok {
		t.Error("service not in the set of services")
	}
	if _, err := c.ZScore(ctx, prefix+"expiry", nodeKey).Result(); err != nil {
		t.Errorf("node key not in the expiry index: %v", err)
	}
	// Re-registering the same node without TTL makes it permanent.
	if err := r.Register(ctx, svc, 0); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, nodeKey).Val(); ttl != -1 {
		t.Errorf("PTTL after registering without TTL = %v, want none", ttl)
	}
	if err := r.Deregister(ctx, svc); err != nil {
		t.Fatal(err)
	}
	announced(redis.OpDeregister, "n:1") // a TTL change alone announces nothing
	if n := c.Exists(ctx, nodeKey, prefix+"service:odd%3Aname%25").Val(); n != 0 {
		t.Errorf("%d keys left after Deregister", n)
	}

	// Expiry, found by the sweep of the next Register.
	if err := r.Register(ctx, svc, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	announced(redis.OpRegister, "n:1")
	time.Sleep(100 * time.Millisecond)
	if err := r.Register(ctx, &registry.Service{Name: "other", Nodes: []*registry.Node{{ID: "x"}}}, 0); err != nil {
		t.Fatal(err)
	}
	announced(redis.OpExpire, "n:1")
}

// A watcher whose connection is cut reports what happened meanwhile.
func TestWatchReconnect(t *testing.T) {
	prefix := testPrefix(t)
	name := "microtest-" + prefix[len(prefix)-13:len(prefix)-1]
	url := plugintest.RedisURL()
	if strings.Contains(url, "?") {
		url += "&client_name=" + name
	} else {
		url += "?client_name=" + name
	}
	r := newRegistry(t, redis.Config{Connection: redis.Connection{URL: url}, Prefix: prefix})
	other := newRegistry(t, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix})
	ctx := t.Context()
	w := registrytest.Watch(t, ctx, r)
	c := plugintest.Redis(t)
	for i := range 3 {
		killClients(t, c, name)
		svc := &registry.Service{Name: "svc" + string(rune('a'+i)), Nodes: []*registry.Node{{ID: "n", Address: "a"}}}
		if err := other.Register(ctx, svc, 0); err != nil {
			t.Fatal(err)
		}
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != registry.Added || ev.Service.Name != svc.Name {
			t.Fatalf("event %v %s, want added %s", ev.Type, ev.Service.Name, svc.Name)
		}
	}
}

// killClients closes, on the server, every connection named name.
func killClients(t *testing.T, c *goredis.Client, name string) {
	t.Helper()
	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			named = named || f == "name="+name
		}
		if named && id != "" {
			c.Do(t.Context(), "CLIENT", "KILL", "ID", id)
		}
	}
}

func TestConfig(t *testing.T) {
	settingstest.Check(t, func(ctx context.Context, cfg redis.Config) (*redis.Registry, error) { return redis.New(ctx, cfg) },
		[]settingstest.Case[redis.Config]{
			{Name: "defaults", Config: redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}}, Field: ""},
			{Name: "bad URL", Config: redis.Config{Connection: redis.Connection{URL: "nats://x"}}, Field: "URL"},
			{Name: "bad SweepInterval", Config: redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, SweepInterval: -1}, Field: "SweepInterval"},
			{Name: "ResyncInterval below SweepInterval", Config: redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, SweepInterval: redis.Duration(time.Minute), ResyncInterval: redis.Duration(time.Second)}, Field: "ResyncInterval"},
		})
	var cfg redis.Config
	if err := json.Unmarshal([]byte(`{"url":"redis://h:1/0","prefix":"p:","sweep_interval":"2s","resync_interval":"1m"}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg != (redis.Config{Connection: redis.Connection{URL: "redis://h:1/0"}, Prefix: "p:", SweepInterval: redis.Duration(2 * time.Second), ResyncInterval: redis.Duration(time.Minute)}) {
		t.Errorf("decoded %+v", cfg)
	}
	if err := plugin.DecodeSettings([]byte(`{"sweep":"1s"}`), new(redis.Config)); err == nil {
		t.Error("DecodeSettings accepted an unknown field")
	}
}

func TestUnreachable(t *testing.T) {
	settingstest.Unreachable(t, func(ctx context.Context, url string) (*redis.Registry, error) {
		return redis.New(ctx, redis.Config{Connection: redis.Connection{URL: url}})
	}, "redis://:secret@127.0.0.1:1/0", "127.0.0.1:1")
}

func TestClosed(t *testing.T) {
	r := newRegistry(t, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(t)})
	w, err := r.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := w.Next(); err != registry.ErrWatcherStopped {
		t.Errorf("Next after Close = %v", err)
	}
	if _, err := r.Lookup(t.Context(), "x"); err != redis.ErrClosed {
		t.Errorf("Lookup after Close = %v", err)
	}
}
