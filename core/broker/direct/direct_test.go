package direct_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/broker/direct"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newRegistry returns a memory registry closed when t ends (after the
// brokers that use it, which are opened later and so closed first).
func newRegistry(t *testing.T) *memory.Registry {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	return reg
}

// newBroker returns a broker on reg, closed when t ends.
func newBroker(t *testing.T, reg registry.Registry, opts ...direct.Option) *direct.Broker {
	t.Helper()
	b := direct.New(reg, append([]direct.Option{direct.WithLogger(quiet())}, opts...)...)
	brokertest.CloseAtEnd(t, b)
	return b
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// inbox records the messages its handlers receive.
type inbox struct {
	mu  sync.Mutex
	got []*broker.Message
	by  []string // who received each message
}

func (in *inbox) handler(who string, result error) broker.Handler {
	return func(_ context.Context, msg *broker.Message) error {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.got = append(in.got, msg)
		in.by = append(in.by, who)
		return result
	}
}

func (in *inbox) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

// bodies returns the bodies received, per receiver.
func (in *inbox) bodies() map[string][]string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string][]string)
	for i, m := range in.got {
		out[in.by[i]] = append(out[in.by[i]], string(m.Body))
	}
	return out
}

// register adds a node for a subscription of topic that the test controls.
func register(t *testing.T, reg registry.Registry, topic, id, addr, queue string) {
	t.Helper()
	svc := &registry.Service{
		Name:    direct.ServiceName(topic),
		Version: "1",
		Nodes: []*registry.Node{{
			ID: id, Address: addr,
			Metadata: map[string]string{"topic": topic, "queue": queue},
		}},
	}
	if err := reg.Register(ctxFor(t), svc, 0); err != nil {
		t.Fatalf("Register: %v", err)
	}
}

// deadAddress returns an address nothing listens on any more.
func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// nodes returns the registered subscriptions of topic.
func nodes(t *testing.T, reg registry.Registry, topic string) []*registry.Node {
	t.Helper()
	svcs, err := reg.Lookup(ctxFor(t), direct.ServiceName(topic))
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	var out []*registry.Node
	for _, s := range svcs {
		out = append(out, s.Nodes...)
	}
	return out
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return direct.New(newRegistry(t), direct.WithLogger(quiet()))
	})
}

// TestConformanceLocal runs the suite on the multi-process registry, with
// the publishing and subscribing broker sharing the directory only.
func TestConformanceLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		reg, err := local.New(local.WithDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		return direct.New(reg, direct.WithLogger(quiet()))
	})
}

func TestServiceName(t *testing.T) {
	tests := []struct {
		topic, want string
	}{
		{"orders", "micro.broker.orders"},
		{"orders.created-v2", "micro.broker.orders.created-v2"},
		{"Orders", "micro.broker._4frders"},
		{"a_b", "micro.broker.a_5fb"},
		{"a/b c", "micro.broker.a_2fb_20c"},
		{"héllo", "micro.broker.h_c3_a9llo"},
		{"..", "micro.broker..."},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			if got := direct.ServiceName(tt.topic); got != tt.want {
				t.Errorf("ServiceName(%q) = %q, want %q", tt.topic, got, tt.want)
			}
		})
	}
	// Escaping must keep distinct topics apart.
	seen := make(map[string]string)
	for _, topic := range []string{"a_5fb", "a_b", "A", "_41", "a", "a.b", "a-b", "a b", "a_20b"} {
		name := direct.ServiceName(topic)
		if other, ok := seen[name]; ok {
			t.Errorf("topics %q and %q share the service name %q", topic, other, name)
		}
		seen[name] = topic
	}
}

// TestTwoBrokers publishes on one broker to subscribers of another that
// shares only the registry.
func TestTwoBrokers(t *testing.T) {
	reg := newRegistry(t)
	pub, sub := newBroker(t, reg), newBroker(t, reg)
	const topic = "two.brokers"
	var all1, all2, group inbox
	brokertest.Subscribe(t, sub, topic, all1.handler("all1", nil))
	brokertest.Subscribe(t, sub, topic, all2.handler("all2", nil))
	brokertest.Subscribe(t, sub, topic, group.handler("w1", nil), broker.Queue("workers"))
	brokertest.Subscribe(t, sub, topic, group.handler("w2", nil), broker.Queue("workers"))

	const n = 40
	for i := range n {
		msg := &broker.Message{Header: map[string]string{"K": strconv.Itoa(i)}, Body: []byte("m" + strconv.Itoa(i))}
		if err := pub.Publish(ctxFor(t), topic, msg); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	brokertest.WaitFor(t, "every message at every subscriber", func() bool {
		return all1.len() == n && all2.len() == n && group.len() == n
	})
	time.Sleep(100 * time.Millisecond)
	if all1.len() != n || all2.len() != n || group.len() != n {
		t.Errorf("got %d, %d and %d (group) messages, want %d each", all1.len(), all2.len(), group.len(), n)
	}
	per := group.bodies()
	if len(per["w1"]) == 0 || len(per["w2"]) == 0 {
		t.Errorf("group members got %d and %d messages; want both to get some", len(per["w1"]), len(per["w2"]))
	}
	for _, m := range all1.got {
		if m.ID == "" || m.Header["K"] == "" || m.Header[broker.DeliveryHeader] != "1" {
			t.Errorf("delivered message %+v: want an ID, header K and %s 1", m, broker.DeliveryHeader)
		}
	}
}

// TestNackGoesToAnotherMember checks that a message a member rejects is
// delivered to another member of its group, with the attempt count.
func TestNackGoesToAnotherMember(t *testing.T) {
	reg := newRegistry(t)
	pub, b1, b2 := newBroker(t, reg), newBroker(t, reg), newBroker(t, reg)
	const topic = "nack.member"
	var in inbox
	brokertest.Subscribe(t, b1, topic, in.handler("rejecter", errors.New("not today")), broker.Queue("g"))
	brokertest.Subscribe(t, b2, topic, in.handler("acker", nil), broker.Queue("g"))

	const n = 20
	for i := range n {
		msg := &broker.Message{ID: "id-" + strconv.Itoa(i), Body: []byte(strconv.Itoa(i))}
		if err := pub.PublishSync(ctxFor(t), topic, msg); err != nil {
			t.Fatalf("PublishSync: %v", err)
		}
	}
	rejected := make(map[string]int)
	acked := make(map[string]*broker.Message)
	for i, m := range in.got {
		switch in.by[i] {
		case "rejecter":
			rejected[m.ID]++
		case "acker":
			if acked[m.ID] != nil {
				t.Errorf("message %s acknowledged twice", m.ID)
			}
			acked[m.ID] = m
		}
	}
	if len(acked) != n {
		t.Fatalf("%d messages acknowledged, want %d", len(acked), n)
	}
	if len(rejected) == 0 {
		t.Fatal("the rejecting member never got a message; round robin should reach it")
	}
	for id, m := range acked {
		want := strconv.Itoa(rejected[id] + 1)
		if got := m.Header[broker.DeliveryHeader]; got != want {
			t.Errorf("message %s: %s = %q at the acknowledging member, want %q", id, broker.DeliveryHeader, got, want)
		}
	}
}

// TestGiveUp checks the attempts at a subscriber that always rejects, and
// what PublishSync and the dead letter function report.
func TestGiveUp(t *testing.T) {
	reg := newRegistry(t)
	var (
		mu    sync.Mutex
		dead  []*broker.Message
		dErrs []error
	)
	pub := newBroker(t, reg, direct.WithMaxAttempts(3), direct.WithDeadLetter(func(topic string, msg *broker.Message, err error) {
		mu.Lock()
		defer mu.Unlock()
		dead = append(dead, msg)
		dErrs = append(dErrs, err)
	}))
	sub := newBroker(t, reg)
	const topic = "give.up"
	var in inbox
	brokertest.Subscribe(t, sub, topic, in.handler("s", errors.New("no, never")), broker.Queue("stubborn"))

	err := pub.PublishSync(ctxFor(t), topic, &broker.Message{ID: "sync", Body: []byte("x")})
	if err == nil {
		t.Fatal("PublishSync to a rejecting subscriber returned nil")
	}
	for _, want := range []string{`"give.up"`, `queue group "stubborn"`, "3 attempts", "no, never"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if code := merrors.CodeOf(err); code != merrors.Aborted {
		t.Errorf("CodeOf(err) = %v, want %v", code, merrors.Aborted)
	}
	var counts []string
	for _, m := range in.got {
		counts = append(counts, m.Header[broker.DeliveryHeader])
	}
	if want := []string{"1", "2", "3"}; !slices.Equal(counts, want) {
		t.Errorf("delivery counts %v, want %v", counts, want)
	}

	// Publish hands the message to the dead letter function instead.
	if err := pub.Publish(ctxFor(t), topic, &broker.Message{ID: "async", Header: map[string]string{"H": "v"}, Body: []byte("y")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	brokertest.WaitFor(t, "the dead letter", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(dead) == 1
	})
	if m := dead[0]; m.ID != "async" || string(m.Body) != "y" || m.Header["H"] != "v" {
		t.Errorf("dead letter got %+v, want the published message", m)
	}
	if !strings.Contains(dErrs[0].Error(), "no, never") {
		t.Errorf("dead letter error %q does not carry the handler's error", dErrs[0])
	}
}

// TestDeadMember checks that a member nobody answers at is skipped in favour
// of a live member, and that a dead subscriber without a group makes the
// message fail.
func TestDeadMember(t *testing.T) {
	reg := newRegistry(t)
	pub := newBroker(t, reg, direct.WithMaxAttempts(2))
	live := newBroker(t, reg)
	const topic = "dead.member"
	var in inbox
	brokertest.Subscribe(t, live, topic, in.handler("live", nil), broker.Queue("g"))
	dead := deadAddress(t)
	register(t, reg, topic, "dead-1", dead, "g")
	register(t, reg, topic, "dead-2", dead, "g")

	const n = 20
	start := time.Now()
	for i := range n {
		if err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("PublishSync: %v", err)
		}
	}
	if in.len() != n {
		t.Errorf("live member got %d messages, want %d", in.len(), n)
	}
	// After the first failure the dead address is tried last, so the
	// messages do not each wait out failed attempts.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d publishes took %v", n, d)
	}

	t.Run("without group", func(t *testing.T) {
		const topic = "dead.subscriber"
		register(t, reg, topic, "gone-for-good", dead, "")
		err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("x")})
		if err == nil {
			t.Fatal("PublishSync to a dead subscriber returned nil")
		}
		for _, want := range []string{`"dead.subscriber"`, "gone-for-good", "2 attempts"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		if _, ok := errors.AsType[*transport.Error](err); !ok {
			t.Errorf("error %q does not wrap the *transport.Error", err)
		}
	})
}

// TestStaleRegistration checks that a registration whose subscription no
// longer exists (its broker answers, but does not know it) is skipped
// without error.
func TestStaleRegistration(t *testing.T) {
	reg := newRegistry(t)
	pub, sub := newBroker(t, reg), newBroker(t, reg)
	const topic = "stale"
	var in inbox
	brokertest.Subscribe(t, sub, topic, in.handler("live", nil))
	addr := nodes(t, reg, topic)[0].Address
	register(t, reg, topic, "stale-fanout", addr, "")
	register(t, reg, topic, "stale-member", addr, "g")

	if err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("x")}); err != nil {
		t.Fatalf("PublishSync: %v", err)
	}
	if in.len() != 1 {
		t.Errorf("live subscriber got %d messages, want 1", in.len())
	}
}

func TestNoSubscribers(t *testing.T) {
	b := newBroker(t, newRegistry(t))
	for _, publish := range []func(context.Context, string, *broker.Message) error{b.Publish, b.PublishSync} {
		if err := publish(ctxFor(t), "nobody.listens", &broker.Message{Body: []byte("x")}); err != nil {
			t.Errorf("publish without subscribers: %v, want nil", err)
		}
	}
}

func TestInvalidArguments(t *testing.T) {
	b := newBroker(t, newRegistry(t))
	ctx := ctxFor(t)
	if err := b.Publish(ctx, "", &broker.Message{}); err == nil {
		t.Error("Publish with an empty topic: nil error")
	}
	if err := b.Publish(ctx, "t", nil); err == nil {
		t.Error("Publish of a nil message: nil error")
	}
	if _, err := b.Subscribe(ctx, "", func(context.Context, *broker.Message) error { return nil }); err == nil {
		t.Error("Subscribe with an empty topic: nil error")
	}
	if _, err := b.Subscribe(ctx, "t", nil); err == nil {
		t.Error("Subscribe with a nil handler: nil error")
	}
}

// TestRegistration checks what a subscription registers, that it is renewed
// before its TTL passes, and that Unsubscribe and Close remove it.
func TestRegistration(t *testing.T) {
	reg := newRegistry(t)
	b := newBroker(t, reg, direct.WithTTL(150*time.Millisecond))
	const topic = "Registered_Topic"
	h := func(context.Context, *broker.Message) error { return nil }
	s1 := brokertest.Subscribe(t, b, topic, h)
	brokertest.Subscribe(t, b, topic, h, broker.Queue("q"))

	time.Sleep(500 * time.Millisecond) // several TTLs
	got := nodes(t, reg, topic)
	if len(got) != 2 {
		t.Fatalf("%d nodes registered after several TTLs, want 2", len(got))
	}
	queues := []string{got[0].Metadata["queue"], got[1].Metadata["queue"]}
	slices.Sort(queues)
	if !slices.Equal(queues, []string{"", "q"}) {
		t.Errorf("queues %q, want \"\" and \"q\"", queues)
	}
	for _, n := range got {
		if n.ID == "" || n.Address == "" || n.Metadata["topic"] != topic {
			t.Errorf("node %+v: want an ID, an address and topic %q", n, topic)
		}
	}

	if err := s1.Unsubscribe(ctxFor(t)); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if got := nodes(t, reg, topic); len(got) != 1 || got[0].Metadata["queue"] != "q" {
		t.Errorf("after Unsubscribe: nodes %v, want the queue subscription only", got)
	}
	time.Sleep(300 * time.Millisecond) // no renewal brings it back
	if got := nodes(t, reg, topic); len(got) != 1 {
		t.Errorf("after Unsubscribe and two TTLs: %d nodes, want 1", len(got))
	}
	if err := b.Close(ctxFor(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := nodes(t, reg, topic); len(got) != 0 {
		t.Errorf("after Close: %d nodes registered, want none", len(got))
	}
}

func TestClosed(t *testing.T) {
	b := direct.New(newRegistry(t), direct.WithLogger(quiet()))
	ctx := ctxFor(t)
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	msg := &broker.Message{Body: []byte("x")}
	if err := b.Publish(ctx, "t", msg); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := b.PublishSync(ctx, "t", msg); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("PublishSync after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(ctx, "t", func(context.Context, *broker.Message) error { return nil }); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// TestCloseDrains checks that Close waits for messages already published.
func TestCloseDrains(t *testing.T) {
	reg := newRegistry(t)
	sub := newBroker(t, reg)
	pub := direct.New(reg, direct.WithLogger(quiet()))
	const topic = "drain"
	var done atomic.Int32
	brokertest.Subscribe(t, sub, topic, func(context.Context, *broker.Message) error {
		time.Sleep(100 * time.Millisecond)
		done.Add(1)
		return nil
	})
	for range 5 {
		if err := pub.Publish(ctxFor(t), topic, &broker.Message{Body: []byte("x")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if err := pub.Close(ctxFor(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := done.Load(); n != 5 {
		t.Errorf("Close returned with %d of 5 messages handled", n)
	}
}

// TestCloseAbandons checks that a Close whose ctx ends abandons deliveries
// in flight: the handler's ctx ends and the message is dead-lettered.
func TestCloseAbandons(t *testing.T) {
	reg := newRegistry(t)
	sub := newBroker(t, reg)
	dead := make(chan error, 1)
	pub := direct.New(reg, direct.WithLogger(quiet()), direct.WithDeadLetter(func(_ string, _ *broker.Message, err error) { dead <- err }))
	_, cancelled := startBlocked(t, pub, sub, "abandon")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := pub.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	select {
	case err := <-dead:
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("dead letter error = %v, want broker.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("abandoned message not dead-lettered")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("handler's ctx not cancelled")
	}
}

// startBlocked subscribes on sub to topic a handler whose first call waits
// until its ctx ends, publishes a message from pub and returns once that
// call runs, with a channel closed when the call's ctx ended.
func startBlocked(t *testing.T, pub, sub *direct.Broker, topic string) (broker.Subscription, <-chan struct{}) {
	t.Helper()
	started, cancelled := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := brokertest.Subscribe(t, sub, topic, func(ctx context.Context, _ *broker.Message) error {
		once.Do(func() {
			close(started)
			<-ctx.Done()
			close(cancelled)
		})
		return ctx.Err()
	})
	if err := pub.Publish(ctxFor(t), topic, &broker.Message{Body: []byte("x")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	<-started
	return s, cancelled
}

// TestAckTimeout checks that an attempt whose handler is too slow is
// cancelled and retried.
func TestAckTimeout(t *testing.T) {
	reg := newRegistry(t)
	pub := newBroker(t, reg, direct.WithAckTimeout(100*time.Millisecond))
	sub := newBroker(t, reg)
	const topic = "slow"
	var calls atomic.Int32
	var sawCancel atomic.Bool
	brokertest.Subscribe(t, sub, topic, func(ctx context.Context, msg *broker.Message) error {
		if calls.Add(1) == 1 {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("handler ctx has no deadline")
			}
			<-ctx.Done()
			sawCancel.Store(true)
			return ctx.Err()
		}
		if got := msg.Header[broker.DeliveryHeader]; got != "2" {
			t.Errorf("second attempt has %s %q, want 2", broker.DeliveryHeader, got)
		}
		return nil
	})
	if err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("x")}); err != nil {
		t.Fatalf("PublishSync: %v", err)
	}
	if calls.Load() != 2 || !sawCancel.Load() {
		t.Errorf("%d calls (first cancelled: %v), want 2 with the first cancelled", calls.Load(), sawCancel.Load())
	}
}

// TestPublishSyncContext checks that PublishSync gives up when its ctx ends
// and that the handler sees the deadline.
func TestPublishSyncContext(t *testing.T) {
	reg := newRegistry(t)
	pub, sub := newBroker(t, reg), newBroker(t, reg)
	const topic = "sync.ctx"
	brokertest.Subscribe(t, sub, topic, func(ctx context.Context, _ *broker.Message) error {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Second {
			t.Errorf("handler ctx deadline %v (set: %v), want the publisher's, under a second away", dl, ok)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := pub.PublishSync(ctx, topic, &broker.Message{Body: []byte("x")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PublishSync = %v, want context.DeadlineExceeded", err)
	}
}

// TestUnsubscribeCancels checks that an Unsubscribe whose ctx ends cancels
// the handlers it waits for.
func TestUnsubscribeCancels(t *testing.T) {
	reg := newRegistry(t)
	pub, sub := newBroker(t, reg), newBroker(t, reg)
	s, cancelled := startBlocked(t, pub, sub, "unsubscribe.cancels")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Unsubscribe(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Unsubscribe = %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler ctx not cancelled")
	}
	if err := s.Unsubscribe(ctxFor(t)); err != nil {
		t.Errorf("second Unsubscribe: %v", err)
	}
}

func TestHandlerPanic(t *testing.T) {
	reg := newRegistry(t)
	pub, sub := newBroker(t, reg), newBroker(t, reg)
	const topic = "panic"
	var calls atomic.Int32
	brokertest.Subscribe(t, sub, topic, func(context.Context, *broker.Message) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	if err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("x")}); err != nil {
		t.Fatalf("PublishSync: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2 (a panic rejects)", n)
	}
}

// TestWire sends frames to a subscriber's server directly, as a foreign or
// outdated peer might.
func TestWire(t *testing.T) {
	reg := newRegistry(t)
	b := newBroker(t, reg)
	const topic = "wire"
	var in inbox
	brokertest.Subscribe(t, b, topic, in.handler("s", nil))
	node := nodes(t, reg, topic)[0]

	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()
	conn, err := pool.Get(ctxFor(t), node.Address)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame transport.Frame
		want  merrors.Code
	}{
		{"delivery", transport.Frame{Service: node.ID, Endpoint: "Broker.Deliver", Meta: []string{":id", "m1", "K", "v"}, Body: []byte("b")}, merrors.OK},
		{"unknown subscription", transport.Frame{Service: "nope", Endpoint: "Broker.Deliver", Meta: []string{":id", "m2"}}, merrors.NotFound},
		{"unknown endpoint", transport.Frame{Service: node.ID, Endpoint: "Broker.Other"}, merrors.Unimplemented},
		{"no message ID", transport.Frame{Service: node.ID, Endpoint: "Broker.Deliver"}, merrors.InvalidArgument},
		{"wrong first key", transport.Frame{Service: node.ID, Endpoint: "Broker.Deliver", Meta: []string{"K", "v"}}, merrors.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp, err := conn.RoundTrip(ctxFor(t), &tt.frame)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			if got := merrors.Code(rsp.Code); got != tt.want {
				t.Errorf("response code %v (%s), want %v", got, rsp.Message, tt.want)
			}
		})
	}
	if in.len() != 1 {
		t.Fatalf("handler got %d messages, want 1", in.len())
	}
	if m := in.got[0]; m.ID != "m1" || m.Header["K"] != "v" || string(m.Body) != "b" {
		t.Errorf("handler got %+v", m)
	}
}

// FuzzDeliver sends arbitrary delivery frames to a subscriber's server: it
// must answer each, and never crash.
func FuzzDeliver(f *testing.F) {
	reg := memory.New()
	defer reg.Close()
	b := direct.New(reg, direct.WithLogger(quiet()))
	defer b.Close(context.Background())
	ctx := context.Background()
	if _, err := b.Subscribe(ctx, "fuzz", func(context.Context, *broker.Message) error { return nil }); err != nil {
		f.Fatal(err)
	}
	svcs, err := reg.Lookup(ctx, direct.ServiceName("fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	node := svcs[0].Nodes[0]
	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()

	f.Add(true, ":id", "m", "K", "v", []byte("body"))
	f.Add(false, "", "", "", "", []byte(nil))
	f.Add(true, "K", "v", ":id", "m", []byte{0, 1})
	f.Fuzz(func(t *testing.T, known bool, k1, v1, k2, v2 string, body []byte) {
		service := "unknown"
		if known {
			service = node.ID
		}
		conn, err := pool.Get(ctx, node.Address)
		if err != nil {
			t.Fatal(err)
		}
		rsp, err := conn.RoundTrip(ctx, &transport.Frame{Service: service, Endpoint: "Broker.Deliver", Meta: []string{k1, v1, k2, v2}, Body: body})
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		switch c := merrors.Code(rsp.Code); {
		case !known && c != merrors.NotFound,
			known && k1 == ":id" && c != merrors.OK,
			known && k1 != ":id" && c != merrors.InvalidArgument:
			t.Errorf("known %v, first key %q: code %v (%s)", known, k1, c, rsp.Message)
		}
	})
}

func ExampleServiceName() {
	fmt.Println(direct.ServiceName("orders.created"))
	fmt.Println(direct.ServiceName("Orders_2"))
	// Output:
	// micro.broker.orders.created
	// micro.broker._4frders_5f2
}

// Two brokers that share a registry: one subscribes, the other publishes.
// With local.New instead of memory.New, they may live in different
// processes.
func Example() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()

	subscriber := direct.New(reg)
	defer subscriber.Close(ctx)
	_, err := subscriber.Subscribe(ctx, "greetings", func(_ context.Context, msg *broker.Message) error {
		fmt.Printf("received %s\n", msg.Body)
		return nil
	}, broker.Queue("printers"))
	if err != nil {
		panic(err)
	}

	publisher := direct.New(reg)
	defer publisher.Close(ctx)
	// PublishSync returns once the subscriber acknowledged; Publish would
	// return at once and deliver in the background.
	if err := publisher.PublishSync(ctx, "greetings", &broker.Message{Body: []byte("hello")}); err != nil {
		panic(err)
	}
	// Output: received hello
}

// frozenRegistry counts Lookups and has watches that never report a change,
// so a cache in front of it goes stale.
type frozenRegistry struct {
	registry.Registry
	lookups atomic.Int32
}

func (r *frozenRegistry) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	r.lookups.Add(1)
	return r.Registry.Lookup(ctx, name)
}

func (r *frozenRegistry) Watch(ctx context.Context, _ ...registry.WatchOption) (registry.Watcher, error) {
	w := &frozenWatcher{done: make(chan struct{})}
	context.AfterFunc(ctx, w.Stop)
	return w, nil
}

type frozenWatcher struct {
	done chan struct{}
	once sync.Once
}

func (w *frozenWatcher) Next() (*registry.Event, error) {
	<-w.done
	return nil, registry.ErrWatcherStopped
}

func (w *frozenWatcher) Stop() { w.once.Do(func() { close(w.done) }) }

// TestCache checks that a warm Publish does not look the topic up, and that
// a subscription that left behind the cache's back is skipped.
func TestCache(t *testing.T) {
	reg := newRegistry(t)
	frozen := &frozenRegistry{Registry: reg}
	pub := newBroker(t, frozen, direct.WithMaxAttempts(2))
	const topic = "cached"
	var in inbox
	gone := direct.New(reg, direct.WithLogger(quiet()))
	brokertest.Subscribe(t, gone, topic, in.handler("gone", nil))
	brokertest.Subscribe(t, gone, topic, in.handler("gone-member", nil), broker.Queue("g"))
	stay := newBroker(t, reg)
	brokertest.Subscribe(t, stay, topic, in.handler("stay", nil))

	for range 10 {
		if err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("x")}); err != nil {
			t.Fatalf("PublishSync: %v", err)
		}
	}
	if n := frozen.lookups.Load(); n != 1 {
		t.Errorf("10 publishes looked the topic up %d times, want once", n)
	}
	if got := in.bodies(); len(got["gone"]) != 10 || len(got["gone-member"]) != 10 || len(got["stay"]) != 10 {
		t.Fatalf("got %d, %d and %d messages, want 10 each", len(got["gone"]), len(got["gone-member"]), len(got["stay"]))
	}

	// The cache still lists gone's subscriptions, whose server is closed.
	if err := gone.Close(ctxFor(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := pub.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("after")}); err != nil {
		t.Fatalf("PublishSync after a subscriber left unseen by the cache: %v", err)
	}
	if got := in.bodies()["stay"]; len(got) != 11 {
		t.Errorf("remaining subscriber got %d messages, want 11", len(got))
	}
}
