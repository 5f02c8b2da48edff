package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
)

// TestSubscribeConcurrency checks that broker.Concurrency crosses the
// bridge: the plugin's memory broker calls its handler up to n times at
// once, so up to n deliveries are in flight on the one stream and n host
// handler calls overlap, never more; every message is acknowledged, with
// answers matched to their deliveries, and a rejected one comes again.
// Without the option the host sees one call at a time, as before.
func TestSubscribeConcurrency(t *testing.T) {
	tests := []struct {
		name  string
		opts  []broker.SubscribeOption
		limit int
	}{
		{"concurrency 4", []broker.SubscribeOption{broker.Concurrency(4)}, 4},
		{"concurrency 4 queue group", []broker.SubscribeOption{broker.Concurrency(4), broker.Queue("g")}, 4},
		{"default", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := plugin.TestClient(t, plugin.Broker(memory.New(memory.WithRedeliveryDelay(time.Millisecond))))
			if err != nil {
				t.Fatalf("TestClient: %v", err)
			}
			b := c.Broker()
			t.Cleanup(func() { b.Close(context.Background()) })

			const n = 40
			var (
				g        = brokertest.NewGauge(tt.limit)
				mu       sync.Mutex
				attempts = make(map[string]int)
				acked    = make(map[string]bool)
			)
			sub, err := b.Subscribe(t.Context(), "t", func(ctx context.Context, msg *broker.Message) error {
				g.Enter()
				// Hold the first calls until limit of them overlap.
				g.Hold(5 * time.Second)
				time.Sleep(time.Millisecond)
				g.Leave()
				mu.Lock()
				defer mu.Unlock()
				key := string(msg.Body)
				attempts[key]++
				if attempts[key] == 1 && len(key) == 2 { // m0 … m9 are rejected once
					return errors.New("rejected on purpose")
				}
				acked[key] = true
				return nil
			}, tt.opts...)
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			for i := range n {
				if err := b.Publish(t.Context(), "t", &broker.Message{Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			brokertest.WaitWithin(t, 10*time.Second, "every message to be acknowledged", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acked) == n
			})
			if err := sub.Unsubscribe(t.Context()); err != nil {
				t.Errorf("Unsubscribe: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if most := g.Max(); most != tt.limit {
				t.Errorf("most host handler calls at once = %d, want %d", most, tt.limit)
			}
			for i := range n {
				key := fmt.Sprintf("m%d", i)
				want := 1
				if len(key) == 2 {
					want = 2
				}
				if attempts[key] != want {
					t.Errorf("message %s handled %d times, want %d", key, attempts[key], want)
				}
			}
		})
	}
}
