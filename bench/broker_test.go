package bench_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/bench"
	"github.com/seedmicro/micro/core/broker/memory"
)

// The harness of brokerbench, on the in-memory broker: no server needed.

func memorySystem(t *testing.T) *bench.BrokerSystem {
	t.Helper()
	b := memory.New()
	t.Cleanup(func() { b.Close(context.Background()) })
	return bench.MicroSystem("memory", b, bench.Body(1024), 4)
}

func TestMeasurePublish(t *testing.T) {
	r := bench.MeasurePublish(memorySystem(t), "t", 4, 10*time.Millisecond, 50*time.Millisecond)
	if r.Messages == 0 || r.Errors != 0 || r.Rate <= 0 || r.Elapsed < 50*time.Millisecond {
		t.Fatalf("got %+v; want messages, no errors, a rate, at least 50ms", r)
	}
}

func TestMeasurePublishCountsErrors(t *testing.T) {
	var calls atomic.Int64
	s := &bench.BrokerSystem{
		Name: "failing",
		Publish: func(context.Context, string) error {
			if calls.Add(1)%2 == 0 {
				return errors.New("refused")
			}
			return nil
		},
	}
	r := bench.MeasurePublish(s, "t", 2, 0, 20*time.Millisecond)
	if r.Errors == 0 || r.Messages == 0 || int64(r.Errors+r.Messages) != calls.Load() {
		t.Fatalf("got %+v after %d calls; want every call counted, half as errors", r, calls.Load())
	}
}

func TestMeasurePubSub(t *testing.T) {
	r, err := bench.MeasurePubSub(memorySystem(t), "t", "g", 4, 20, 500, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 500 || r.Errors != 0 || r.Extra != 0 || r.Rate <= 0 {
		t.Fatalf("got %+v; want 500 messages, no errors, no extra deliveries", r)
	}
}

// lossy delivers every message but the ones numbered by drop, and every
// one numbered by dup twice.
func lossy(t *testing.T, drop, dup func(n int64) bool) *bench.BrokerSystem {
	s := memorySystem(t)
	inner := s.Subscribe
	s.Subscribe = func(ctx context.Context, topic, group string, got func()) (func(context.Context) error, error) {
		var n atomic.Int64
		return inner(ctx, topic, group, func() {
			i := n.Add(1)
			if drop(i) {
				return
			}
			got()
			if dup(i) {
				got()
			}
		})
	}
	return s
}

func TestMeasurePubSubCountsLost(t *testing.T) {
	never := func(int64) bool { return false }
	s := lossy(t, func(n int64) bool { return n > 10 && n%10 == 0 }, never)
	r, err := bench.MeasurePubSub(s, "t", "g", 2, 10, 100, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 10 || r.Messages != 90 {
		t.Fatalf("got %+v; want 10 errors for the 10 messages lost, 90 messages", r)
	}
}

func TestMeasurePubSubCountsExtra(t *testing.T) {
	never := func(int64) bool { return false }
	// The last message is delivered twice: the second delivery arrives
	// after the run's end, before the subscription stops.
	s := lossy(t, never, func(n int64) bool { return n == 110 })
	r, err := bench.MeasurePubSub(s, "t", "g", 2, 10, 100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Messages != 100 || r.Extra != 1 {
		t.Fatalf("got %+v; want 100 messages, no errors, 1 extra delivery", r)
	}
}

func TestMeasurePubSubWarmUpTimeout(t *testing.T) {
	s := lossy(t, func(int64) bool { return true }, func(int64) bool { return false })
	if _, err := bench.MeasurePubSub(s, "t", "g", 1, 5, 10, 50*time.Millisecond); err == nil {
		t.Fatal("no error when no warm-up message is consumed")
	}
}
