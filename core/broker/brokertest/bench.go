package brokertest

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
)

// The helpers below are the loops of the brokers' benchmarks, which compare
// a broker with its server's client library doing the same work: the same
// loop runs the broker's Publish and the library's publish.

// consumeTimeout bounds the wait of a benchmark for the last message.
const consumeTimeout = time.Minute

// BenchBody returns n random bytes, a message body for a benchmark.
func BenchBody(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// BenchPublish calls publish b.N times and reports size bytes for each call.
// With parallelism 0 it calls from the benchmark's goroutine; otherwise
// from parallelism goroutines per GOMAXPROCS at once (b.SetParallelism).
// It fails the benchmark with publish's first error. The timer runs from
// the first call to the last return, so a benchmark that waits for
// consumption afterwards measures that too.
func BenchPublish(b *testing.B, size int64, parallelism int, publish func() error) {
	b.Helper()
	b.SetBytes(size)
	b.ResetTimer()
	if parallelism == 0 {
		for range b.N {
			if err := publish(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := publish(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchPublishTo is BenchPublish of msg to topic on br.
func BenchPublishTo(b *testing.B, br broker.Broker, topic string, msg *broker.Message, parallelism int) {
	b.Helper()
	ctx := context.Background()
	BenchPublish(b, int64(len(msg.Body)), parallelism, func() error { return br.Publish(ctx, topic, msg) })
}

// BenchConsumed counts the messages a benchmark's consumer handled, up to
// the b.N it waits for.
type BenchConsumed struct {
	got  atomic.Int64
	want int64
	done chan struct{}
}

// NewBenchConsumed returns a count that waits for b.N messages.
func NewBenchConsumed(b *testing.B) *BenchConsumed {
	return &BenchConsumed{want: int64(b.N), done: make(chan struct{})}
}

// Add counts n more messages handled and returns the total.
func (c *BenchConsumed) Add(n int) int64 {
	got := c.got.Add(int64(n))
	if got == c.want {
		close(c.done)
	}
	return got
}

// Count returns how many messages were counted.
func (c *BenchConsumed) Count() int64 { return c.got.Load() }

// Handler returns a handler that counts and acknowledges every message.
func (c *BenchConsumed) Handler() broker.Handler {
	return func(context.Context, *broker.Message) error {
		c.Add(1)
		return nil
	}
}

// Wait waits until b.N messages were counted; it fails the benchmark if
// that takes longer than a minute.
func (c *BenchConsumed) Wait(b *testing.B) {
	b.Helper()
	select {
	case <-c.done:
	case <-time.After(consumeTimeout):
		b.Fatalf("%d of %d messages consumed after %v", c.got.Load(), c.want, consumeTimeout)
	}
}

// BenchPublishConsume measures publishing b.N copies of msg to topic on br,
// as BenchPublish does, until a subscription with opts has handled them
// all.
func BenchPublishConsume(b *testing.B, br broker.Broker, topic string, msg *broker.Message, parallelism int, opts ...broker.SubscribeOption) {
	b.Helper()
	c := NewBenchConsumed(b)
	sub, err := br.Subscribe(b.Context(), topic, c.Handler(), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe(context.Background())
	BenchPublishTo(b, br, topic, msg, parallelism)
	c.Wait(b)
}
