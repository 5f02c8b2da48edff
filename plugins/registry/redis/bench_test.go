package redis_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/registry/redis"
)

// The benchmarks compare the registry with go-redis writing and reading the
// same hashes by hand, without the script's atomicity, change detection and
// announcements: a heartbeat Register (unchanged node, TTL refreshed) and a
// Lookup of a service with 10 nodes.
//
//	go test -run '^$' -bench . ./plugins/registry/redis/

func benchService(nodes int) *registry.Service {
	svc := &registry.Service{
		Name: "bench", Version: "1.0.0", Metadata: map[string]string{"team": "bench"},
		Endpoints: []*registry.Endpoint{{Name: "Greeter.Hello"}},
	}
	for i := range nodes {
		svc.Nodes = append(svc.Nodes, &registry.Node{ID: "n" + strconv.Itoa(i), Address: "10.0.0." + strconv.Itoa(i) + ":8080"})
	}
	return svc
}

func BenchmarkRegister(b *testing.B) {
	ctx := context.Background()
	svc := benchService(1)
	b.Run("micro", func(b *testing.B) {
		r := newRegistry(b, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(b)})
		for b.Loop() {
			if err := r.Register(ctx, svc, 30*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		c, prefix := plugintest.Redis(b), testPrefix(b)
		head, _ := json.Marshal(&registry.Service{Name: svc.Name, Version: svc.Version, Metadata: svc.Metadata, Endpoints: svc.Endpoints})
		node, _ := json.Marshal(svc.Nodes[0])
		key := prefix + "node:bench:1.0.0:n0"
		for b.Loop() {
			if _, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.HSet(ctx, key, "service", head, "node", node)
				p.PExpire(ctx, key, 30*time.Second)
				p.SAdd(ctx, prefix+"service:bench", key)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	svc := benchService(10)
	b.Run("micro", func(b *testing.B) {
		r := newRegistry(b, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(b)})
		if err := r.Register(ctx, svc, time.Minute); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := r.Lookup(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		prefix := testPrefix(b)
		r := newRegistry(b, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: prefix})
		if err := r.Register(ctx, svc, time.Minute); err != nil {
			b.Fatal(err)
		}
		c := plugintest.Redis(b)
		for b.Loop() {
			keys, err := c.SMembers(ctx, prefix+"service:bench").Result()
			if err != nil {
				b.Fatal(err)
			}
			cmds := make([]*goredis.SliceCmd, len(keys))
			if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.HMGet(ctx, k, "service", "node")
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			out := &registry.Service{}
			for _, cmd := range cmds {
				v := cmd.Val()
				var n registry.Node
				json.Unmarshal([]byte(v[0].(string)), out)
				json.Unmarshal([]byte(v[1].(string)), &n)
				out.Nodes = append(out.Nodes, &n)
			}
		}
	})
}
