package rabbitmq_test

import (
	"cmp"
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

// gate is a handler that counts its calls in progress. Every call waits
// until limit calls run at once (once per phase), so that a subscription
// able to run limit calls must reach limit; with failFirst it rejects
// every first delivery.
type gate struct {
	limit     int32
	failFirst bool

	inflight, peak atomic.Int32

	mu      sync.Mutex
	reached chan struct{} // closed once limit calls ran at once
	acked   map[string]string
}

func newGate(limit int, failFirst bool) *gate {
	return &gate{limit: int32(limit), failFirst: failFirst, reached: make(chan struct{}), acked: make(map[string]string)}
}

func (g *gate) handle(_ context.Context, msg *broker.Message) error {
	n := g.inflight.Add(1)
	defer g.inflight.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.mu.Lock()
	reached := g.reached
	if n >= g.limit {
		select {
		case <-reached:
		default:
			close(reached)
		}
	}
	g.mu.Unlock()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
	}
	time.Sleep(time.Millisecond)
	attempt := msg.Header[broker.DeliveryHeader]
	if g.failFirst && attempt == "1" {
		return errors.New("rejected on purpose")
	}
	g.mu.Lock()
	g.acked[msg.ID] = attempt
	g.mu.Unlock()
	return nil
}

// nextPhase makes the calls wait again for limit calls at once.
func (g *gate) nextPhase() {
	g.mu.Lock()
	g.reached = make(chan struct{})
	g.mu.Unlock()
	g.peak.Store(0)
}

func (g *gate) isAcked(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.acked[id]
	return ok
}

// waitAcked waits until every id is acknowledged, each at its second
// delivery with failFirst.
func (g *gate) waitAcked(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for !g.isAcked(id) {
			if time.Now().After(deadline) {
				t.Fatalf("message %s not acknowledged after 20s", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	want := "1"
	if g.failFirst {
		want = "2"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if got := g.acked[id]; got != want {
			t.Errorf("message %s acknowledged at delivery %q, want %q", id, got, want)
		}
	}
}

// TestConcurrency checks broker.Concurrency: with Prefetch 1 (raised to n)
// up to n handler calls overlap, never more, every message is acknowledged
// and rejected ones are delivered again; after the connections are cut the
// restored subscription runs n calls at once again. Without the option
// calls do not overlap.
func TestConcurrency(t *testing.T) {
	for _, n := range []int{1, 4} {
		for _, group := range []string{"", "workers"} {
			t.Run(fmt.Sprintf("%d/%s", n, cmp.Or(group, "no group")), func(t *testing.T) {
				f := newFixture(t)
				p, url := newProxy(t, f.url)
				cfg := f.config()
				cfg.URL = url
				cfg.Prefetch = 1
				b := f.open(t, cfg)
				topic := unique("concurrency.")
				g := newGate(n, true)
				var opts []broker.SubscribeOption
				if group != "" {
					opts = append(opts, broker.Queue(group))
				}
				if n > 1 {
					opts = append(opts, broker.Concurrency(n))
				}
				sub, err := b.Subscribe(t.Context(), topic, g.handle, opts...)
				if err != nil {
					t.Fatal(err)
				}
				publish := func(id string) {
					t.Helper()
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					defer cancel()
					if err := b.Publish(ctx, topic, &broker.Message{ID: id, Body: []byte(id)}); err != nil {
						t.Fatalf("Publish %s: %v", id, err)
					}
				}
				phase := func(name string) {
					t.Helper()
					var ids []string
					for i := range 40 {
						id := fmt.Sprintf("%s-%d", name, i)
						ids = append(ids, id)
						publish(id)
					}
					g.waitAcked(t, ids)
					if got := g.peak.Load(); got != int32(n) {
						t.Errorf("%s: at most %d handler calls at once, want %d", name, got, n)
					}
				}
				phase("first")

				// Cut the connections; wait until the subscription is
				// restored (a subscriber without group misses what is
				// published before).
				p.WaitConns(t, 2)
				p.Cut()
				deadline := time.Now().Add(20 * time.Second)
				for i := 0; ; i++ {
					id := fmt.Sprintf("probe-%d", i)
					publish(id)
					restored := false
					for range 40 {
						if restored = g.isAcked(id); restored {
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
					if restored {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("subscription not restored after 20s")
					}
				}
				for g.inflight.Load() > 0 {
					time.Sleep(5 * time.Millisecond)
				}
				g.nextPhase()
				phase("restored")

				if err := sub.Unsubscribe(t.Context()); err != nil {
					t.Fatal(err)
				}
				if group != "" {
					q, err := f.channel(t).QueueDeclarePassive(f.exchange+"."+topic+"."+group, true, false, false, false, nil)
					if err != nil {
						t.Fatal(err)
					}
					if q.Messages != 0 {
						t.Errorf("%d messages left in the group's queue, want 0", q.Messages)
					}
				}
			})
		}
	}
}

// TestConcurrencyUnsubscribeWaits checks that Unsubscribe waits for every
// handler call in progress of a subscription with broker.Concurrency.
func TestConcurrencyUnsubscribeWaits(t *testing.T) {
	f := newFixture(t)
	b := f.open(t, f.config())
	topic := unique("concurrency.")
	var inflight, finished atomic.Int32
	h := func(ctx context.Context, msg *broker.Message) error {
		inflight.Add(1)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		finished.Add(1)
		return ctx.Err()
	}
	sub, err := b.Subscribe(t.Context(), topic, h, broker.Concurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := b.Publish(t.Context(), topic, &broker.Message{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.WaitWithin(t, 10*time.Second, "4 handler calls at once", func() bool { return inflight.Load() >= 4 })
	time.Sleep(50 * time.Millisecond)
	if got := inflight.Load(); got != 4 {
		t.Fatalf("%d handler calls at once, want 4", got)
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := finished.Load(); got != 4 {
		t.Errorf("Unsubscribe returned with %d of 4 handler calls finished", got)
	}
}
