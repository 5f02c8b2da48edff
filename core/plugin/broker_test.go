package plugin_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
)

// collect subscribes to topic and returns a function that waits for n
// messages and returns their bodies.
func collect(t *testing.T, b broker.Broker, topic string) func(n int) []string {
	t.Helper()
	var (
		mu     sync.Mutex
		bodies []string
	)
	sub, err := b.Subscribe(t.Context(), topic, func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		bodies = append(bodies, string(msg.Body))
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() { sub.Unsubscribe(context.Background()) })
	return func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := append([]string(nil), bodies...)
			mu.Unlock()
			if len(got) >= n {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d messages arrived, want %d", len(got), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestPublisher(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Run("publishes in order", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				wait := collect(t, b, "stream")
				p, err := b.NewPublisher(t.Context())
				if err != nil {
					t.Fatalf("NewPublisher: %v", err)
				}
				const n = 500
				msg := &broker.Message{Header: map[string]string{"k": "v"}}
				for i := range n {
					msg.Body = strconv.AppendInt(msg.Body[:0], int64(i), 10) // reused
					if err := p.Publish("stream", msg); err != nil {
						t.Fatalf("Publish %d: %v", i, err)
					}
				}
				if err := p.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				got := wait(n)
				for i, body := range got {
					if body != strconv.Itoa(i) {
						t.Fatalf("message %d = %q, want %d", i, body, i)
					}
				}
				if err := p.Publish("stream", msg); err == nil {
					t.Error("Publish after Close succeeded")
				}
				if err := p.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			})
			t.Run("stops at the first error", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				wait := collect(t, b, "stream")
				p, err := b.NewPublisher(t.Context())
				if err != nil {
					t.Fatalf("NewPublisher: %v", err)
				}
				if err := p.Publish("stream", &broker.Message{Body: []byte("first")}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				// The memory broker rejects an empty topic.
				_ = p.Publish("", &broker.Message{Body: []byte("bad")})
				var perr error
				for range 1000 {
					if perr = p.Publish("stream", &broker.Message{Body: []byte("after")}); perr != nil {
						break
					}
				}
				err = p.Close()
				if err == nil || !strings.Contains(err.Error(), "empty topic") {
					t.Fatalf("Close = %v, want the broker's error about the empty topic", err)
				}
				if perr != nil && perr.Error() != err.Error() {
					t.Errorf("Publish after the error = %v, want %v", perr, err)
				}
				if got := wait(1); len(got) != 1 || got[0] != "first" {
					t.Errorf("published %q, want only the message before the error", got)
				}
			})
			t.Run("closed broker", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				p, err := b.NewPublisher(t.Context())
				if err != nil {
					t.Fatalf("NewPublisher: %v", err)
				}
				if err := b.Close(t.Context()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := p.Publish("t", &broker.Message{}); !errors.Is(err, broker.ErrClosed) {
					t.Errorf("Publish on a closed broker = %v, want broker.ErrClosed", err)
				}
				if err := p.Close(); !errors.Is(err, broker.ErrClosed) {
					t.Errorf("Publisher.Close on a closed broker = %v, want broker.ErrClosed", err)
				}
				if _, err := b.NewPublisher(t.Context()); !errors.Is(err, broker.ErrClosed) {
					t.Errorf("NewPublisher on a closed broker = %v, want broker.ErrClosed", err)
				}
			})
		})
	}
}

func TestHandler(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Run("context ends at Close", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				started := make(chan struct{})
				var sawCancel atomic.Bool
				type key struct{}
				ctx := context.WithValue(t.Context(), key{}, "value")
				_, err := b.Subscribe(ctx, "t", func(ctx context.Context, _ *broker.Message) error {
					if ctx.Value(key{}) != "value" {
						t.Error("the handler's ctx lacks the values of Subscribe's")
					}
					close(started)
					select {
					case <-ctx.Done():
						sawCancel.Store(true)
					case <-time.After(10 * time.Second):
					}
					return ctx.Err()
				})
				if err != nil {
					t.Fatalf("Subscribe: %v", err)
				}
				if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				<-started
				start := time.Now()
				if err := b.Close(t.Context()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if !sawCancel.Load() {
					t.Errorf("Close returned after %v without cancelling the handler's ctx", time.Since(start))
				}
			})
			t.Run("panic rejects", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				var calls atomic.Int32
				acked := make(chan *broker.Message, 1)
				_, err := b.Subscribe(t.Context(), "t", func(_ context.Context, msg *broker.Message) error {
					if calls.Add(1) == 1 {
						panic("handler on fire")
					}
					acked <- msg
					return nil
				})
				if err != nil {
					t.Fatalf("Subscribe: %v", err)
				}
				if err := b.Publish(t.Context(), "t", &broker.Message{ID: "m1"}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				select {
				case msg := <-acked:
					if msg.ID != "m1" || msg.Header[broker.DeliveryHeader] != "2" {
						t.Errorf("redelivered %+v, want m1 on its second delivery", msg)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a message whose handler panicked was not redelivered")
				}
			})
			t.Run("nil handler", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				if _, err := b.Subscribe(t.Context(), "t", nil); err == nil {
					t.Error("Subscribe with a nil handler succeeded")
				}
			})
			t.Run("nil message", func(t *testing.T) {
				b := mode.open(t, plugin.KindBroker, "broker").Broker()
				err := b.Publish(t.Context(), "t", nil)
				if err == nil || !strings.Contains(err.Error(), "nil message") {
					t.Errorf("Publish(nil) = %v, want the broker's error", err)
				}
			})
		})
	}
}

// TestDeliveries: a plugin process sends deliveries, and takes their
// answers, on its data link; in process they travel on the stream. Either
// way every message arrives, a rejection is redelivered, and handlers run
// concurrently.
func TestDeliveries(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			b := mode.open(t, plugin.KindBroker, "broker").Broker()
			defer b.Close(context.Background())
			const n = 300
			var (
				mu      sync.Mutex
				got     = make(map[string]int) // deliveries by body
				running atomic.Int32
				most    atomic.Int32
				done    = make(chan struct{})
			)
			sub, err := b.Subscribe(t.Context(), "t", func(_ context.Context, msg *broker.Message) error {
				r := running.Add(1)
				defer running.Add(-1)
				for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
				}
				time.Sleep(time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				body := string(msg.Body)
				if got[body]++; got[body] == 1 {
					return errors.New("first time: again, please")
				}
				if msg.Header[broker.DeliveryHeader] != "2" {
					t.Errorf("%s redelivered with %s %q, want 2", body, broker.DeliveryHeader, msg.Header[broker.DeliveryHeader])
				}
				if len(got) == n && allTwice(got) {
					close(done)
				}
				return nil
			}, broker.Queue("g"), broker.Concurrency(8))
			if err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			key := plugin.SubscriptionLink(sub)
			if (mode.name == "child-process") != (key != 0) {
				t.Errorf("%s: data-link key %d", mode.name, key)
			}
			for i := range n {
				if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte(strconv.Itoa(i))}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				mu.Lock()
				t.Fatalf("%d of %d messages arrived twice", countTwice(got), n)
			}
			if m := most.Load(); m < 2 {
				t.Errorf("at most %d handler calls at once, want concurrency", m)
			}
			if err := sub.Unsubscribe(t.Context()); err != nil {
				t.Errorf("Unsubscribe: %v", err)
			}
		})
	}
}

func allTwice(m map[string]int) bool { return countTwice(m) == len(m) }

func countTwice(m map[string]int) int {
	c := 0
	for _, v := range m {
		if v >= 2 {
			c++
		}
	}
	return c
}
