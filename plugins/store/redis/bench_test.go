package redis_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/store/redis"
)

// The benchmarks compare the store with go-redis doing the same work on 1 KiB
// values: SET with PX for Write; GET and PTTL in one MULTI for Read.
//
//	go test -run '^$' -bench . ./plugins/store/redis/

func benchValue() []byte {
	v := make([]byte, 1024)
	rand.Read(v)
	return v
}

func BenchmarkWrite(b *testing.B) {
	value := benchValue()
	ctx := context.Background()
	b.Run("micro", func(b *testing.B) {
		s := newStore(b, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(b)})
		rec := &store.Record{Key: "bench", Value: value, TTL: time.Hour}
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if err := s.Write(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		c, key := plugintest.Redis(b), testPrefix(b)+"bench"
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if err := c.Set(ctx, key, value, time.Hour).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	value := benchValue()
	ctx := context.Background()
	b.Run("micro", func(b *testing.B) {
		s := newStore(b, redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(b)})
		if err := s.Write(ctx, &store.Record{Key: "bench", Value: value, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if _, err := s.Read(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		c, key := plugintest.Redis(b), testPrefix(b)+"bench"
		if err := c.Set(ctx, key, value, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			var get *goredis.StringCmd
			if _, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				get = p.Get(ctx, key)
				p.PTTL(ctx, key)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if _, err := get.Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
