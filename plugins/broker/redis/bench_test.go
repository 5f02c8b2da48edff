package redis_test

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

// The benchmarks compare the broker with go-redis doing the same work: 1 KiB
// bodies and a Content-Type header, written with XADD MAXLEN ~ the default
// cap, and read by one consumer of a consumer group with XREADGROUP COUNT
// (the default prefetch) and XACK.
//
//	go test -run '^$' -bench . ./plugins/broker/redis/

const benchBodySize = 1024

var benchHeader = map[string]string{"Content-Type": "application/octet-stream"}

func benchBody() []byte {
	b := make([]byte, benchBodySize)
	rand.Read(b)
	return b
}

func benchConfig(b *testing.B) redis.Config {
	return redis.Config{Connection: redis.Connection{URL: testURL()}, Prefix: testPrefix(b)}
}

// rawXAdd is the XADD of the raw benchmarks: the fields a Publish of a
// message with body and benchHeader writes.
func rawXAdd(stream string, body []byte) *goredis.XAddArgs {
	return &goredis.XAddArgs{
		Stream: stream, ID: "*", MaxLen: redis.DefaultMaxLen, Approx: true,
		Values: []any{redis.HeaderFieldPrefix + "Content-Type", benchHeader["Content-Type"], redis.FieldBody, body},
	}
}

func BenchmarkPublish(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b))
		msg := &broker.Message{Header: benchHeader, Body: body}
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		for b.Loop() {
			if err := br.Publish(ctx, "bench", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b)
		c := client(b)
		stream := cfg.Prefix + "bench"
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		for b.Loop() {
			if err := c.XAdd(ctx, rawXAdd(stream, body)).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPublishParallel(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b))
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		b.RunParallel(func(pb *testing.PB) {
			msg := &broker.Message{Header: benchHeader, Body: body}
			for pb.Next() {
				if err := br.Publish(ctx, "bench", msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b)
		c := client(b)
		stream := cfg.Prefix + "bench"
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := c.XAdd(ctx, rawXAdd(stream, body)).Err(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkPublishConsume publishes b.N messages and waits until one
// consumer of a queue group has handled and acknowledged every one.
func BenchmarkPublishConsume(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b))
		ctx := context.Background()
		var got atomic.Int64
		done := make(chan struct{})
		want := int64(b.N)
		sub, err := br.Subscribe(ctx, "bench", func(context.Context, *broker.Message) error {
			if got.Add(1) == want {
				close(done)
			}
			return nil
		}, broker.Queue("bench"))
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Unsubscribe(ctx)
		msg := &broker.Message{Header: benchHeader, Body: body}
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for range b.N {
			if err := br.Publish(ctx, "bench", msg); err != nil {
				b.Fatal(err)
			}
		}
		waitDone(b, done, &got)
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b)
		c := client(b)
		stream, group := cfg.Prefix+"bench", "bench"
		ctx := context.Background()
		if err := c.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
			b.Fatal(err)
		}
		var got atomic.Int64
		done := make(chan struct{})
		stop := make(chan struct{})
		defer close(stop)
		want := int64(b.N)
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{
					Group: group, Consumer: "raw", Streams: []string{stream, ">"},
					Count: redis.DefaultPrefetch, Block: 100 * time.Millisecond,
				}).Result()
				if err != nil {
					continue
				}
				var ids []string
				for _, m := range res[0].Messages {
					// What a handler gets: the body and the header.
					_ = []byte(m.Values[redis.FieldBody].(string))
					_ = m.Values[redis.HeaderFieldPrefix+"Content-Type"]
					ids = append(ids, m.ID)
				}
				if err := c.XAck(ctx, stream, group, ids...).Err(); err != nil {
					b.Error(err)
					return
				}
				if got.Add(int64(len(ids))) == want {
					close(done)
				}
			}
		}()
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for range b.N {
			if err := c.XAdd(ctx, rawXAdd(stream, body)).Err(); err != nil {
				b.Fatal(err)
			}
		}
		waitDone(b, done, &got)
	})
}

func waitDone(b *testing.B, done <-chan struct{}, got *atomic.Int64) {
	b.Helper()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d messages consumed after a minute", got.Load(), b.N)
	}
}
