package memory_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/broker/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts []memory.Option
	}{
		{"default", nil},
		{"queue size 1", []memory.Option{memory.WithQueueSize(1)}},
		{"immediate redelivery", []memory.Option{memory.WithRedeliveryDelay(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokertest.Run(t, func(*testing.T) broker.Broker { return memory.New(tt.opts...) })
		})
	}
}

// closeBroker closes b when t ends.
func closeBroker(t *testing.T, b *memory.Broker) {
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// attempt is one handler call seen by a test.
type attempt struct {
	at    time.Duration // since the test started
	count string        // broker.DeliveryHeader
	body  string
}

func TestRedeliveryAndDeadLetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type dead struct {
			topic string
			msg   *broker.Message
			err   error
		}
		var deadLetters []dead
		b := memory.New(
			memory.WithMaxDeliveries(3),
			memory.WithRedeliveryDelay(time.Second),
			memory.WithDeadLetter(func(topic string, msg *broker.Message, err error) {
				deadLetters = append(deadLetters, dead{topic, msg, err})
			}),
		)
		closeBroker(t, b)

		start := time.Now()
		var attempts []attempt
		errReject := errors.New("rejected")
		brokertest.Subscribe(t, b, "orders", func(_ context.Context, msg *broker.Message) error {
			attempts = append(attempts, attempt{time.Since(start), msg.Header[broker.DeliveryHeader], string(msg.Body)})
			return errReject
		})
		brokertest.Publish(t, b, "orders", &broker.Message{ID: "m1", Body: []byte("order")})
		time.Sleep(time.Minute)
		synctest.Wait()

		want := []attempt{{0, "1", "order"}, {time.Second, "2", "order"}, {2 * time.Second, "3", "order"}}
		if fmt.Sprint(attempts) != fmt.Sprint(want) {
			t.Errorf("attempts = %v, want %v", attempts, want)
		}
		if len(deadLetters) != 1 {
			t.Fatalf("dead letters = %v, want 1", deadLetters)
		}
		d := deadLetters[0]
		if d.topic != "orders" || d.msg.ID != "m1" || string(d.msg.Body) != "order" || d.msg.Header[broker.DeliveryHeader] != "3" {
			t.Errorf("dead letter = %q %+v, want orders, m1, order, count 3", d.topic, d.msg)
		}
		if !errors.Is(d.err, errReject) {
			t.Errorf("dead letter error = %v, want %v", d.err, errReject)
		}
	})
}

func TestMaxDeliveriesUnlimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dead := 0
		b := memory.New(
			memory.WithMaxDeliveries(0),
			memory.WithDeadLetter(func(string, *broker.Message, error) { dead++ }),
		)
		closeBroker(t, b)
		calls := 0
		brokertest.Subscribe(t, b, "t", func(context.Context, *broker.Message) error {
			if calls++; calls < 50 {
				return errors.New("not yet")
			}
			return nil
		})
		brokertest.Publish(t, b, "t", &broker.Message{})
		time.Sleep(time.Hour)
		synctest.Wait()
		if calls != 50 || dead != 0 {
			t.Errorf("calls = %d, dead letters = %d; want 50, 0", calls, dead)
		}
	})
}

func TestHandlerPanic(t *testing.T) {
	errPanic := errors.New("panic value")
	tests := []struct {
		name    string
		value   any
		wantMsg string
	}{
		{"string", "oops", "handler panic: oops"},
		{"error", errPanic, "handler panic: panic value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var deadErr error
				b := memory.New(
					memory.WithMaxDeliveries(2),
					memory.WithDeadLetter(func(_ string, _ *broker.Message, err error) { deadErr = err }),
				)
				closeBroker(t, b)
				calls := 0
				brokertest.Subscribe(t, b, "t", func(context.Context, *broker.Message) error {
					calls++
					panic(tt.value)
				})
				brokertest.Publish(t, b, "t", &broker.Message{})
				time.Sleep(time.Minute)
				synctest.Wait()
				if calls != 2 {
					t.Errorf("handler called %d times, want 2: a panic is a nack", calls)
				}
				if deadErr == nil || !strings.Contains(deadErr.Error(), tt.wantMsg) {
					t.Errorf("dead letter error = %v, want it to contain %q", deadErr, tt.wantMsg)
				}
				if e, ok := tt.value.(error); ok && !errors.Is(deadErr, e) {
					t.Errorf("dead letter error = %v, want it to wrap %v", deadErr, e)
				}
			})
		})
	}
}

func TestPublishCopiesMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.WithRedeliveryDelay(time.Second))
		closeBroker(t, b)
		var seen []string
		brokertest.Subscribe(t, b, "t", func(_ context.Context, msg *broker.Message) error {
			seen = append(seen, fmt.Sprintf("%s %s", msg.Body, msg.Header["k"]))
			// Change what the handler got; the redelivery must not see it.
			msg.Body[0] = 'X'
			msg.Header["k"] = "changed by handler"
			if len(seen) == 1 {
				return errors.New("again")
			}
			return nil
		})

		msg := &broker.Message{Header: map[string]string{"k": "v"}, Body: []byte("body")}
		brokertest.Publish(t, b, "t", msg)
		if msg.ID != "" {
			t.Errorf("Publish set the caller's msg.ID to %q", msg.ID)
		}
		// The caller reuses its buffers at once.
		msg.Body[0] = 'Y'
		msg.Header["k"] = "changed by publisher"

		time.Sleep(time.Minute)
		synctest.Wait()
		want := []string{"body v", "body v"}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("handler saw %q, want %q", seen, want)
		}
	})
}

func TestGeneratedIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New()
		closeBroker(t, b)
		ids := make(map[string]bool)
		brokertest.Subscribe(t, b, "t", func(_ context.Context, msg *broker.Message) error {
			ids[msg.ID] = true
			return nil
		})
		const n = 1000
		for range n {
			brokertest.Publish(t, b, "t", &broker.Message{})
		}
		synctest.Wait()
		if len(ids) != n {
			t.Errorf("%d distinct IDs for %d messages", len(ids), n)
		}
		valid := regexp.MustCompile(`^[0-9a-f]{32}$`)
		for id := range ids {
			if !valid.MatchString(id) {
				t.Fatalf("ID %q is not 32 hex digits", id)
			}
		}
	})
}

func TestQueueFullBlocksPublishAllOrNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.WithQueueSize(1))
		closeBroker(t, b)

		release := make(chan struct{})
		var slow, fast []string
		brokertest.Subscribe(t, b, "t", func(_ context.Context, msg *broker.Message) error {
			<-release
			slow = append(slow, string(msg.Body))
			return nil
		})
		brokertest.Subscribe(t, b, "t", func(_ context.Context, msg *broker.Message) error {
			fast = append(fast, string(msg.Body))
			return nil
		})

		brokertest.Publish(t, b, "t", &broker.Message{Body: []byte("1")})
		synctest.Wait() // the slow handler holds message 1, filling its queue

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		err := b.Publish(ctx, "t", &broker.Message{Body: []byte("2")})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish to a full queue = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("Publish returned after %v, want it to wait for ctx (1s)", waited)
		}

		close(release)
		brokertest.Publish(t, b, "t", &broker.Message{Body: []byte("3")})
		synctest.Wait()
		// Message 2 went nowhere, not even to the subscriber with room.
		if got, want := fmt.Sprint(slow, fast), "[1 3] [1 3]"; got != want {
			t.Errorf("slow, fast got %s, want %s", got, want)
		}
	})
}

func TestSlowSubscriberDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.WithQueueSize(10))
		closeBroker(t, b)
		release := make(chan struct{})
		defer close(release)
		brokertest.Subscribe(t, b, "t", func(context.Context, *broker.Message) error {
			<-release
			return nil
		})
		fast := 0
		brokertest.Subscribe(t, b, "t", func(context.Context, *broker.Message) error {
			fast++
			return nil
		})
		for range 10 {
			brokertest.Publish(t, b, "t", &broker.Message{})
		}
		synctest.Wait()
		if fast != 10 {
			t.Errorf("fast subscriber got %d messages while the slow one was stuck, want 10", fast)
		}
	})
}

func TestUnsubscribeCancelsHandlerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New()
		closeBroker(t, b)
		var handlerErr error
		sub := brokertest.Subscribe(t, b, "t", func(ctx context.Context, _ *broker.Message) error {
			<-ctx.Done()
			handlerErr = ctx.Err()
			return ctx.Err()
		})
		brokertest.Publish(t, b, "t", &broker.Message{})
		synctest.Wait()
		if err := sub.Unsubscribe(t.Context()); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		if !errors.Is(handlerErr, context.Canceled) {
			t.Errorf("handler ctx error = %v, want context.Canceled", handlerErr)
		}
	})
}

func TestUnsubscribeContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New()
		closeBroker(t, b)
		release := make(chan struct{})
		sub := brokertest.Subscribe(t, b, "t", func(context.Context, *broker.Message) error {
			<-release // ignores its ctx
			return nil
		})
		brokertest.Publish(t, b, "t", &broker.Message{})
		synctest.Wait()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := sub.Unsubscribe(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Unsubscribe with a stuck handler = %v, want context.DeadlineExceeded", err)
		}
		close(release)
		if err := sub.Unsubscribe(t.Context()); err != nil {
			t.Errorf("second Unsubscribe: %v", err)
		}
	})
}

func TestHandlerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New()
		closeBroker(t, b)
		type key struct{}
		subCtx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "value"))
		var gotValue any
		var gotErr error
		_, err := b.Subscribe(subCtx, "t", func(ctx context.Context, _ *broker.Message) error {
			gotValue, gotErr = ctx.Value(key{}), ctx.Err()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cancel() // ends the Subscribe call's ctx, not the subscription
		brokertest.Publish(t, b, "t", &broker.Message{})
		synctest.Wait()
		if gotValue != "value" || gotErr != nil {
			t.Errorf("handler ctx value, err = %v, %v; want value, <nil>", gotValue, gotErr)
		}
	})
}

func TestQueueGroupMemberLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.WithRedeliveryDelay(time.Second))
		closeBroker(t, b)
		group := broker.Queue("workers")
		first := brokertest.Subscribe(t, b, "jobs", func(ctx context.Context, _ *broker.Message) error {
			<-ctx.Done() // works until told to stop, then gives the job back
			return ctx.Err()
		}, group)
		brokertest.Publish(t, b, "jobs", &broker.Message{Body: []byte("job 1")})
		synctest.Wait() // job 1 is with the first member

		var second []string
		brokertest.Subscribe(t, b, "jobs", func(_ context.Context, msg *broker.Message) error {
			second = append(second, fmt.Sprintf("%s #%s", msg.Body, msg.Header[broker.DeliveryHeader]))
			return nil
		}, group)
		if err := first.Unsubscribe(t.Context()); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		brokertest.Publish(t, b, "jobs", &broker.Message{Body: []byte("job 2")})
		time.Sleep(time.Minute)
		synctest.Wait()
		if got, want := fmt.Sprint(second), "[job 2 #1 job 1 #2]"; got != want {
			t.Errorf("second member got %s, want %s", got, want)
		}
	})
}

func TestCloseUnblocksPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.WithQueueSize(1))
		brokertest.Subscribe(t, b, "t", func(ctx context.Context, _ *broker.Message) error {
			<-ctx.Done()
			return nil
		})
		brokertest.Publish(t, b, "t", &broker.Message{})
		synctest.Wait()

		var publishErr error
		var wg sync.WaitGroup
		wg.Go(func() { publishErr = b.Publish(context.Background(), "t", &broker.Message{}) })
		synctest.Wait() // Publish waits for room
		if err := b.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
		if !errors.Is(publishErr, broker.ErrClosed) {
			t.Errorf("blocked Publish after Close = %v, want broker.ErrClosed", publishErr)
		}
	})
}

// A Publish waiting for room in a queue whose subscription ends must leave
// that queue alone: the message it holds goes back there when its handler
// rejects it.
func TestUnsubscribeWhilePublishWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.WithQueueSize(1), memory.WithRedeliveryDelay(0))
		closeBroker(t, b)
		sub := brokertest.Subscribe(t, b, "t", func(ctx context.Context, _ *broker.Message) error {
			<-ctx.Done()
			time.Sleep(time.Second) // let the waiting Publish go first
			return ctx.Err()        // nack: back into the full queue
		})
		brokertest.Publish(t, b, "t", &broker.Message{})
		synctest.Wait()

		var publishErr error
		var wg sync.WaitGroup
		wg.Go(func() { publishErr = b.Publish(t.Context(), "t", &broker.Message{}) })
		synctest.Wait() // Publish waits for room
		if err := sub.Unsubscribe(t.Context()); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		wg.Wait()
		if publishErr != nil {
			t.Errorf("Publish to a topic whose only subscriber left = %v, want nil", publishErr)
		}
	})
}

func TestCloseAgain(t *testing.T) {
	b := memory.New()
	sub := brokertest.Subscribe(t, b, "t", func(context.Context, *broker.Message) error { return nil })
	for i := range 2 {
		if err := b.Close(t.Context()); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Errorf("Unsubscribe after Close: %v", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	b := memory.New()
	closeBroker(t, b)
	ok := func(context.Context, *broker.Message) error { return nil }
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
		want string // in the error
	}{
		{"publish empty topic", func() error { return b.Publish(t.Context(), "", &broker.Message{}) }, "empty topic"},
		{"publish nil message", func() error { return b.Publish(t.Context(), "t", nil) }, "nil message"},
		{"publish canceled", func() error { return b.Publish(canceled, "t", &broker.Message{}) }, context.Canceled.Error()},
		{"subscribe empty topic", func() error {
			_, err := b.Subscribe(t.Context(), "", ok)
			return err
		}, "empty topic"},
		{"subscribe nil handler", func() error {
			_, err := b.Subscribe(t.Context(), "t", nil)
			return err
		}, "nil handler"},
		{"subscribe canceled", func() error {
			_, err := b.Subscribe(canceled, "t", ok)
			return err
		}, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPublishWithoutSubscribers(t *testing.T) {
	b := memory.New()
	closeBroker(t, b)
	if err := b.Publish(t.Context(), "nobody", &broker.Message{Body: []byte("x")}); err != nil {
		t.Errorf("Publish to a topic without subscribers = %v, want nil", err)
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%v", parallel), func(b *testing.B) {
			br := memory.New()
			defer br.Close(context.Background())
			ctx := context.Background()
			done := make(chan struct{})
			_, err := br.Subscribe(ctx, "bench", func(_ context.Context, msg *broker.Message) error {
				if msg.Header != nil && msg.Header["last"] != "" {
					close(done)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 1024)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					msg := &broker.Message{Body: body}
					for pb.Next() {
						if err := br.Publish(ctx, "bench", msg); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				msg := &broker.Message{Body: body}
				for range b.N { // not b.Loop: the wait for delivery below is timed too
					if err := br.Publish(ctx, "bench", msg); err != nil {
						b.Fatal(err)
					}
				}
			}
			// Count the time until the subscriber has had every message.
			if err := br.Publish(ctx, "bench", &broker.Message{Header: map[string]string{"last": "1"}}); err != nil {
				b.Fatal(err)
			}
			<-done
		})
	}
}

func TestConcurrency(t *testing.T) {
	tests := []struct {
		name    string
		members []int // the Concurrency of each subscriber
		group   bool
	}{
		{"subscriber", []int{4}, false},
		{"queue group", []int{2, 2}, true},
		{"queue group mixed", []int{3, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := memory.New(memory.WithRedeliveryDelay(time.Millisecond))
			closeBroker(t, b)
			const n, limit = 40, 4
			g := brokertest.NewGauge(limit)
			var (
				mu       sync.Mutex
				attempts = make(map[string]int)
				acked    = make(map[string]bool)
				all      = make(chan struct{})
			)
			h := func(ctx context.Context, msg *broker.Message) error {
				g.Enter()
				defer g.Leave()
				// Hold the first calls until limit of them run at once.
				g.Hold(10 * time.Second)
				time.Sleep(time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				key := string(msg.Body)
				attempts[key]++
				if attempts[key] == 1 && len(key)%2 == 0 { // some are rejected once
					return errors.New("rejected on purpose")
				}
				acked[key] = true
				if len(acked) == n {
					close(all)
				}
				return nil
			}
			var opts []broker.SubscribeOption
			if tt.group {
				opts = append(opts, broker.Queue("g"))
			}
			for _, c := range tt.members {
				brokertest.Subscribe(t, b, "t", h, append(opts, broker.Concurrency(c))...)
			}
			for i := range n {
				brokertest.Publish(t, b, "t", &broker.Message{Body: fmt.Appendf(nil, "m%d", i)})
			}
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				t.Fatal("not every message was acknowledged")
			}
			if got := g.Max(); got != limit {
				t.Errorf("most handler calls at once = %d, want %d", got, limit)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				key := fmt.Sprintf("m%d", i)
				want := 1
				if len(key)%2 == 0 {
					want = 2
				}
				if attempts[key] != want {
					t.Errorf("message %s handled %d times, want %d", key, attempts[key], want)
				}
			}
		})
	}
}

func TestConcurrencyUnsubscribeWaits(t *testing.T) {
	b := memory.New()
	closeBroker(t, b)
	g := brokertest.NewGauge(3)
	release := make(chan struct{})
	sub := brokertest.Subscribe(t, b, "t", func(ctx context.Context, msg *broker.Message) error {
		g.Enter()
		defer g.Leave()
		<-release
		return nil
	}, broker.Concurrency(3))
	for range 3 {
		brokertest.Publish(t, b, "t", &broker.Message{})
	}
	<-g.Reached()
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := g.Running(); n != 0 {
		t.Errorf("Unsubscribe returned with %d handler calls running", n)
	}
}
