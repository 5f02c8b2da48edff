package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
)

// backlog creates the queue group group of topic at the start of its stream
// and publishes n messages "m0", "m1", ... to it, so that the first read of
// a member gets them all at once.
func backlog(t *testing.T, prefix, topic, group string, n int, publish func(*broker.Message) error) {
	t.Helper()
	c := client(t)
	if err := c.XGroupCreateMkStream(t.Context(), prefix+topic, group, "0").Err(); err != nil {
		t.Fatalf("XGROUP CREATE: %v", err)
	}
	for i := range n {
		if err := publish(&broker.Message{ID: fmt.Sprintf("m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// With broker.Concurrency(4) up to 4 handler calls run at once, never more;
// without it one at a time. Every message is acknowledged, and a rejected
// one is delivered again.
func TestConcurrency(t *testing.T) {
	for _, tt := range []struct {
		n, want int
	}{{0, 1}, {4, 4}} {
		t.Run(fmt.Sprintf("Concurrency(%d)", tt.n), func(t *testing.T) {
			prefix := testPrefix(t)
			b := newBroker(t, fastConfig(prefix))
			const total = 40
			backlog(t, prefix, "conc", "workers", total, func(m *broker.Message) error {
				return b.Publish(t.Context(), "conc", m)
			})

			var active, peak atomic.Int32
			var mu sync.Mutex
			acked := make(map[string]string) // message ID -> delivery count
			rejected := 0
			h := func(_ context.Context, msg *broker.Message) error {
				n := active.Add(1)
				defer active.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(20 * time.Millisecond)
				var i int
				fmt.Sscanf(msg.ID, "m%d", &i)
				mu.Lock()
				defer mu.Unlock()
				if i%5 == 0 && msg.Header[broker.DeliveryHeader] == "1" {
					rejected++
					return errors.New("not now")
				}
				acked[msg.ID] = msg.Header[broker.DeliveryHeader]
				return nil
			}
			sub := brokertest.Subscribe(t, b, "conc", h, broker.Queue("workers"), broker.Concurrency(tt.n))

			brokertest.WaitWithin(t, 20*time.Second, "every message handled", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acked) == total
			})
			if err := sub.Unsubscribe(t.Context()); err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			}
			if p := int(peak.Load()); p != tt.want {
				t.Errorf("at most %d handler calls at once, want %d", p, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if rejected != total/5 {
				t.Errorf("%d rejections, want %d", rejected, total/5)
			}
			for i := range total {
				id := fmt.Sprintf("m%d", i)
				want := "1"
				if i%5 == 0 {
					want = "2"
				}
				if got := acked[id]; got != want {
					t.Errorf("%s acknowledged at delivery %q, want %s", id, got, want)
				}
			}
			// Every acknowledgement reached Redis.
			p, err := client(t).XPending(t.Context(), prefix+"conc", "workers").Result()
			if err != nil {
				t.Fatal(err)
			}
			if p.Count != 0 {
				t.Errorf("%d entries still pending after Unsubscribe", p.Count)
			}
		})
	}
}

// Unsubscribe waits for every handler call in progress, and hands back the
// entries of the batch not handled yet.
func TestConcurrencyUnsubscribeWaits(t *testing.T) {
	prefix := testPrefix(t)
	b := newBroker(t, fastConfig(prefix))
	backlog(t, prefix, "wait", "workers", 6, func(m *broker.Message) error {
		return b.Publish(t.Context(), "wait", m)
	})
	var active atomic.Int32
	release := make(chan struct{})
	h := func(context.Context, *broker.Message) error {
		active.Add(1)
		defer active.Add(-1)
		<-release
		return nil
	}
	sub := brokertest.Subscribe(t, b, "wait", h, broker.Queue("workers"), broker.Concurrency(4))
	brokertest.WaitWithin(t, 10*time.Second, "4 handler calls running", func() bool { return active.Load() >= 4 })
	type result struct {
		err    error
		active int32
	}
	done := make(chan result, 1)
	go func() {
		err := sub.Unsubscribe(context.Background())
		done <- result{err, active.Load()}
	}()
	select {
	case r := <-done:
		t.Fatalf("Unsubscribe returned %v with 4 handler calls running", r.err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	r := <-done
	if r.err != nil {
		t.Fatalf("Unsubscribe: %v", r.err)
	}
	if r.active != 0 {
		t.Errorf("Unsubscribe returned with %d handler calls running", r.active)
	}
	// The 4 handled are acknowledged; the other 2 are parked for the group.
	p, err := client(t).XPending(t.Context(), prefix+"wait", "workers").Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != 2 || p.Consumers["micro.parked"] != 2 {
		t.Errorf("pending after Unsubscribe: %+v, want 2 parked", p)
	}
}

// Unsubscribe in the middle of a batch of fast handler calls returns, and
// leaves every entry either acknowledged (its handler returned nil) or
// handed back to the group: never hanging on the handler goroutines that
// stop taking entries, never losing one. Repeated, as the moment varies.
func TestConcurrencyUnsubscribeMidBatch(t *testing.T) {
	for round := range 20 {
		prefix := testPrefix(t) + fmt.Sprint(round) + ":"
		b := newBroker(t, fastConfig(prefix))
		const total = 64
		backlog(t, prefix, "mid", "workers", total, func(m *broker.Message) error {
			return b.Publish(t.Context(), "mid", m)
		})
		var handled atomic.Int32
		first := make(chan struct{})
		var once sync.Once
		sub := brokertest.Subscribe(t, b, "mid", func(context.Context, *broker.Message) error {
			handled.Add(1)
			once.Do(func() { close(first) })
			return nil
		}, broker.Queue("workers"), broker.Concurrency(4))
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := sub.Unsubscribe(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Unsubscribe: %v (after %d handler calls)", round, err, handled.Load())
		}
		p, err := client(t).XPending(t.Context(), prefix+"mid", "workers").Result()
		if err != nil {
			t.Fatal(err)
		}
		if h := int64(handled.Load()); p.Count != total-h || (p.Count > 0 && p.Consumers["micro.parked"] != p.Count) {
			t.Fatalf("round %d: %d handled, pending %+v; want the other %d parked", round, h, p, total-h)
		}
	}
}
