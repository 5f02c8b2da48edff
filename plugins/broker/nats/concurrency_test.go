package nats_test

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
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// overlap is a handler that records how many of its calls run at once.
// Until want calls have overlapped, a call waits (up to a few seconds) for
// the others, so that the peak is reached whatever the timing; later calls
// take a little time each. Bodies starting with "nak-" are rejected on their
// first delivery.
type overlap struct {
	want int

	inflight, peak atomic.Int64
	reached        chan struct{}
	once           sync.Once

	mu       sync.Mutex
	accepted map[string]int    // body → successful handler calls
	rejected map[string]string // body → delivery count of the rejection
}

func newOverlap(want int) *overlap {
	return &overlap{want: want, reached: make(chan struct{}), accepted: map[string]int{}, rejected: map[string]string{}}
}

func (o *overlap) handle(_ context.Context, msg *broker.Message) error {
	n := o.inflight.Add(1)
	defer o.inflight.Add(-1)
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
	if n >= int64(o.want) {
		o.once.Do(func() { close(o.reached) })
	}
	select {
	case <-o.reached:
		time.Sleep(5 * time.Millisecond)
	case <-time.After(3 * time.Second):
	}
	body := string(msg.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if strings.HasPrefix(body, "nak-") && msg.Header[broker.DeliveryHeader] == "1" {
		o.rejected[body] = msg.Header[broker.DeliveryHeader]
		return errors.New("try again")
	}
	o.accepted[body]++
	return nil
}

func (o *overlap) done(bodies []string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range bodies {
		if o.accepted[b] == 0 {
			return false
		}
	}
	return true
}

func publishBodies(t *testing.T, b broker.Broker, topic string, n int) []string {
	t.Helper()
	var bodies []string
	for i := range n {
		body := "msg-" + strconv.Itoa(i)
		if i%10 == 3 {
			body = "nak-" + strconv.Itoa(i)
		}
		bodies = append(bodies, body)
		if err := b.Publish(t.Context(), topic, &broker.Message{Body: []byte(body)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	return bodies
}

// With broker.Concurrency(4), up to 4 handler calls overlap and never more,
// every message is acked, and a rejected message is delivered again; the
// consumer's MaxAckPending is raised to 4 when it is created. Without the
// option, handlers run one at a time.
func TestConcurrencyJetStream(t *testing.T) {
	for _, conc := range []int{0, 4} {
		t.Run("Concurrency"+strconv.Itoa(conc), func(t *testing.T) {
			cfg := testConfig(t, micronats.ModeJetStream)
			cfg.MaxAckPending = 2
			cfg.Prefetch = 3
			b := newBroker(t, cfg)
			want, opts := 1, []broker.SubscribeOption{broker.Queue("workers")}
			if conc > 0 {
				want, opts = conc, append(opts, broker.Concurrency(conc))
			}
			o := newOverlap(want)
			sub := brokertest.Subscribe(t, b, "jobs", o.handle, opts...)
			bodies := publishBodies(t, b, "jobs", 40)
			brokertest.WaitFor(t, "every message accepted", func() bool { return o.done(bodies) })

			if p := o.peak.Load(); p != int64(want) {
				t.Errorf("peak of overlapping handler calls = %d, want %d", p, want)
			}
			o.mu.Lock()
			for _, body := range bodies {
				if strings.HasPrefix(body, "nak-") && o.rejected[body] != "1" {
					t.Errorf("%s: rejected at delivery %q, want 1", body, o.rejected[body])
				}
				if o.accepted[body] != 1 {
					t.Errorf("%s accepted %d times, want once", body, o.accepted[body])
				}
			}
			o.mu.Unlock()

			js := rawJS(t)
			cons, err := js.Consumer(t.Context(), cfg.Stream, micronats.DurableName("jobs", "workers"))
			if err != nil {
				t.Fatal(err)
			}
			if got, wantMAP := cons.CachedInfo().Config.MaxAckPending, max(2, conc); got != wantMAP {
				t.Errorf("MaxAckPending = %d, want %d", got, wantMAP)
			}
			brokertest.WaitFor(t, "every message acked", func() bool {
				info, err := cons.Info(t.Context())
				return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
			})
			if err := sub.Unsubscribe(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Core mode: up to 4 handler calls overlap and never more; every message is
// delivered, and a rejection is counted (core NATS cannot deliver again).
func TestConcurrencyCore(t *testing.T) {
	b := coreBroker(t)
	o := newOverlap(4)
	brokertest.Subscribe(t, b, "jobs", o.handle, broker.Concurrency(4))
	bodies := publishBodies(t, b, "jobs", 40)
	var accepted []string
	for _, body := range bodies {
		if !strings.HasPrefix(body, "nak-") {
			accepted = append(accepted, body)
		}
	}
	brokertest.WaitFor(t, "every message handled", func() bool {
		return o.done(accepted) && b.Stats().Rejected == uint64(len(bodies)-len(accepted))
	})
	if p := o.peak.Load(); p != 4 {
		t.Errorf("peak of overlapping handler calls = %d, want 4", p)
	}
	if s := b.Stats(); s.Delivered != uint64(len(bodies)) {
		t.Errorf("Stats = %+v, want %d delivered", s, len(bodies))
	}
}

// Unsubscribe waits for every handler call in progress, in both modes.
func TestConcurrencyUnsubscribeWaits(t *testing.T) {
	for _, mode := range []string{micronats.ModeJetStream, micronats.ModeCore} {
		t.Run(mode, func(t *testing.T) {
			b := newBroker(t, testConfig(t, mode))
			var started atomic.Int64
			release := make(chan struct{})
			var finished atomic.Int64
			sub := brokertest.Subscribe(t, b, "jobs", func(context.Context, *broker.Message) error {
				started.Add(1)
				<-release // ignores the cancelled context on purpose
				finished.Add(1)
				return nil
			}, broker.Concurrency(3))
			publishN(t, b, "jobs", "job-", 3)
			brokertest.WaitFor(t, "3 handler calls", func() bool { return started.Load() == 3 })

			unsubscribed := make(chan error, 1)
			go func() { unsubscribed <- sub.Unsubscribe(context.Background()) }()
			select {
			case err := <-unsubscribed:
				t.Fatalf("Unsubscribe returned (%v) while handlers ran", err)
			case <-time.After(200 * time.Millisecond):
			}
			close(release)
			select {
			case err := <-unsubscribed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(brokertest.WaitTimeout):
				t.Fatal("Unsubscribe did not return")
			}
			if f := finished.Load(); f != 3 {
				t.Errorf("Unsubscribe returned after %d of 3 handler calls finished", f)
			}
		})
	}
}

// An existing durable is not raised by Concurrency: Subscribe succeeds and
// the consumer keeps MaxAckPending, which then bounds the handler calls.
func TestConcurrencyExistingDurable(t *testing.T) {
	cfg := testConfig(t, micronats.ModeJetStream)
	cfg.MaxAckPending = 2
	b := newBroker(t, cfg)
	first := brokertest.Subscribe(t, b, "jobs", func(context.Context, *broker.Message) error { return nil }, broker.Queue("workers"))
	if err := first.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := new(collector)
	brokertest.Subscribe(t, b, "jobs", c.handler(0), broker.Queue("workers"), broker.Concurrency(4))
	want := publishN(t, b, "jobs", "job-", 20)
	c.wait(t, len(want))
	cons, err := rawJS(t).Consumer(t.Context(), cfg.Stream, micronats.DurableName("jobs", "workers"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config.MaxAckPending; got != 2 {
		t.Errorf("MaxAckPending = %d, want 2 (an existing durable is not raised)", got)
	}
}

// The acknowledgements of handlers that finish together go out together
// (ack.go); none is lost to a Close that comes right after the last
// handler returned: the server then holds no message as pending or
// delivered again.
func TestAcksSentBeforeClose(t *testing.T) {
	cfg := testConfig(t, micronats.ModeJetStream)
	b := newBroker(t, cfg)
	const n = 200
	var handled atomic.Int64
	all := make(chan struct{})
	brokertest.Subscribe(t, b, "jobs", func(context.Context, *broker.Message) error {
		if handled.Add(1) == n {
			close(all)
		}
		return nil
	}, broker.Queue("workers"), broker.Concurrency(16))
	publishN(t, b, "jobs", "job-", n)
	select {
	case <-all:
	case <-time.After(brokertest.WaitTimeout):
		t.Fatalf("%d of %d messages handled", handled.Load(), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := rawJS(t).Consumer(t.Context(), cfg.Stream, micronats.DurableName("jobs", "workers"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumRedelivered != 0 || info.AckFloor.Consumer != n {
		t.Errorf("after Close: %d pending acknowledgement, %d redelivered, ack floor %d; want 0, 0, %d",
			info.NumAckPending, info.NumRedelivered, info.AckFloor.Consumer, n)
	}
}
