package direct_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
)

// TestConcurrency checks that broker.Concurrency(4) lets 4 handler calls of
// a subscription overlap and never more, that every message is acknowledged,
// and that a rejected message is delivered again.
func TestConcurrency(t *testing.T) {
	reg := newRegistry(t)
	pub := newBroker(t, reg)
	sub := newBroker(t, reg)
	const topic, n, limit = "concurrency", 40, 4
	g := brokertest.NewGauge(limit)
	var (
		mu       sync.Mutex
		attempts = make(map[string]int)
		acked    = make(map[string]bool)
	)
	brokertest.Subscribe(t, sub, topic, func(ctx context.Context, msg *broker.Message) error {
		g.Enter()
		g.Hold(2 * time.Second)
		defer g.Leave()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		key := string(msg.Body)
		attempts[key]++
		if attempts[key] == 1 && len(key) == 2 { // m0 … m9 are rejected once
			return errors.New("rejected on purpose")
		}
		acked[key] = true
		return nil
	}, broker.Concurrency(limit))
	for i := range n {
		if err := pub.Publish(ctxFor(t), topic, &broker.Message{Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	brokertest.WaitFor(t, "every message to be acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == n
	})
	if got := g.Max(); got != limit {
		t.Errorf("most handler calls at once = %d, want %d", got, limit)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 10 {
		if key := fmt.Sprintf("m%d", i); attempts[key] < 2 {
			t.Errorf("rejected message %s handled %d times, want at least 2", key, attempts[key])
		}
	}
}

// TestConcurrencyDefault checks that without broker.Concurrency handler
// calls are not bounded, as before the option existed.
func TestConcurrencyDefault(t *testing.T) {
	reg := newRegistry(t)
	pub := newBroker(t, reg)
	sub := newBroker(t, reg)
	const topic, n = "concurrency.default", 8
	g := brokertest.NewGauge(n)
	var in inbox
	record := in.handler("s", nil)
	brokertest.Subscribe(t, sub, topic, func(ctx context.Context, msg *broker.Message) error {
		g.Enter()
		g.Hold(2 * time.Second)
		defer g.Leave()
		return record(ctx, msg)
	})
	for i := range n {
		if err := pub.Publish(ctxFor(t), topic, &broker.Message{Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	brokertest.WaitFor(t, "every message", func() bool { return in.len() == n })
	if got := g.Max(); got != n {
		t.Errorf("most handler calls at once = %d, want %d", got, n)
	}
}

// TestConcurrencyUnsubscribe checks that deliveries waiting for a turn do
// not hold up Unsubscribe, and are not handled after it.
func TestConcurrencyUnsubscribe(t *testing.T) {
	reg := newRegistry(t)
	pub := newBroker(t, reg)
	sub := newBroker(t, reg)
	const topic = "concurrency.unsubscribe"
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var (
		mu    sync.Mutex
		calls int
	)
	s := brokertest.Subscribe(t, sub, topic, func(ctx context.Context, msg *broker.Message) error {
		mu.Lock()
		calls++
		mu.Unlock()
		started <- struct{}{}
		<-release
		return nil
	}, broker.Concurrency(1))
	for i := range 3 {
		if err := pub.Publish(ctxFor(t), topic, &broker.Message{Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	<-started
	time.Sleep(50 * time.Millisecond) // the others reach the subscriber and wait
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	if err := s.Unsubscribe(ctxFor(t)); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("%d handler calls, want 1: deliveries waiting for a turn ran after Unsubscribe", calls)
	}
}
