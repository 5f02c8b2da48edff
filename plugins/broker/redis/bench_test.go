package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
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

func BenchmarkPublish(b *testing.B)         { benchPublish(b, 0) }
func BenchmarkPublishParallel(b *testing.B) { benchPublish(b, 1) }

// benchPublish compares Publish with the XADD it stands for, from
// parallelism goroutines per GOMAXPROCS (0: from one goroutine).
func benchPublish(b *testing.B, parallelism int) {
	body := brokertest.BenchBody(benchBodySize)
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b))
		brokertest.BenchPublishTo(b, br, "bench", &broker.Message{Header: benchHeader, Body: body}, parallelism)
	})
	b.Run("raw", func(b *testing.B) {
		brokertest.BenchPublish(b, benchBodySize, parallelism, rawPublish(b, body))
	})
}

// rawPublish returns the publish of the raw benchmarks: an XADD of the
// fields a Publish of a message with body and benchHeader writes, to the
// stream of topic "bench".
func rawPublish(b *testing.B, body []byte) func() error {
	stream := benchConfig(b).Prefix + "bench"
	c := client(b)
	ctx := context.Background()
	return func() error { return c.XAdd(ctx, rawXAdd(stream, body)).Err() }
}

// BenchmarkPublishConsume publishes b.N messages and waits until one
// consumer of a queue group has handled and acknowledged every one.
func BenchmarkPublishConsume(b *testing.B) {
	body := brokertest.BenchBody(benchBodySize)
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b))
		brokertest.BenchPublishConsume(b, br, "bench", &broker.Message{Header: benchHeader, Body: body}, 0, broker.Queue("bench"))
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b)
		c := client(b)
		stream, group := cfg.Prefix+"bench", "bench"
		ctx := context.Background()
		if err := c.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
			b.Fatal(err)
		}
		consumed := brokertest.NewBenchConsumed(b)
		stop := make(chan struct{})
		defer close(stop)
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
				consumed.Add(len(ids))
			}
		}()
		brokertest.BenchPublish(b, benchBodySize, 0, func() error { return c.XAdd(ctx, rawXAdd(stream, body)).Err() })
		consumed.Wait(b)
	})
}
