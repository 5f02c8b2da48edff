package redis_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

// collector records the messages a handler receives.
type collector struct {
	mu   sync.Mutex
	msgs []*broker.Message
}

func (c *collector) handler(_ context.Context, msg *broker.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, msg)
	c.mu.Unlock()
	return nil
}

func (c *collector) wait(t *testing.T, n int, within time.Duration) []*broker.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		got := append([]*broker.Message(nil), c.msgs...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages after %v, want %d", len(got), within, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A message its handler rejects MaxDeliveries times goes to the dead-letter
// stream, which is the topic "<topic>:dead".
func TestDeadLetter(t *testing.T) {
	prefix := testPrefix(t)
	cfg := fastConfig(prefix)
	cfg.MaxDeliveries = 3
	b := newBroker(t, cfg)
	const topic = "payments"

	dead := new(collector)
	brokertest.Subscribe(t, b, topic+redis.DeadLetterSuffix, dead.handler)
	var (
		mu       sync.Mutex
		attempts []string
	)
	brokertest.Subscribe(t, b, topic, func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		attempts = append(attempts, msg.Header[broker.DeliveryHeader])
		mu.Unlock()
		return errors.New("card declined")
	}, broker.Queue("workers"))

	err := b.Publish(t.Context(), topic, &broker.Message{
		ID:     "pay-1",
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("pay 10 EUR"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := dead.wait(t, 1, 10*time.Second)[0]
	if got.ID != "pay-1" || string(got.Body) != "pay 10 EUR" || got.Header["Content-Type"] != "text/plain" {
		t.Errorf("dead letter = %+v; want the message as published", got)
	}
	for k, want := range map[string]string{
		redis.HeaderDeadLetterGroup:      "workers",
		redis.HeaderDeadLetterDeliveries: "3",
		redis.HeaderDeadLetterReason:     "card declined",
	} {
		if got.Header[k] != want {
			t.Errorf("dead letter header %s = %q, want %q", k, got.Header[k], want)
		}
	}
	if got.Header[redis.HeaderDeadLetterEntry] == "" {
		t.Errorf("dead letter lacks header %s", redis.HeaderDeadLetterEntry)
	}
	time.Sleep(300 * time.Millisecond) // no further attempt
	mu.Lock()
	if strings.Join(attempts, ",") != "1,2,3" {
		t.Errorf("attempts with delivery counts %v, want 1,2,3", attempts)
	}
	mu.Unlock()

	c := client(t)
	pending, err := c.XPending(t.Context(), prefix+topic, "workers").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Count != 0 {
		t.Errorf("%d entries still pending after dead-lettering", pending.Count)
	}
	entries, err := c.XRange(t.Context(), prefix+topic+redis.DeadLetterSuffix, "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("dead-letter stream holds %v, %v; want one entry", entries, err)
	}
	if v := entries[0].Values["h:"+redis.HeaderDeadLetterReason]; v != "card declined" {
		t.Errorf("dead-letter entry field h:%s = %v", redis.HeaderDeadLetterReason, v)
	}
}

// An entry that was delivered MaxDeliveries times and never answered (its
// consumers died with it, one after the other) is dead-lettered when it is
// claimed, without calling the handler.
func TestDeadLetterUnanswered(t *testing.T) {
	prefix := testPrefix(t)
	cfg := fastConfig(prefix)
	cfg.MaxDeliveries = 3
	cfg.MinIdle = redis.Duration(200 * time.Millisecond)
	stream, group := prefix+"poison", "workers"

	c := client(t)
	ctx := t.Context()
	if err := c.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	id, err := c.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"body", "crash me"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Three consumers that died while handling it.
	if err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "ghost-1", Streams: []string{stream, ">"}, Count: 1}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, ghost := range []string{"ghost-2", "ghost-3"} {
		if err := c.XClaim(ctx, &goredis.XClaimArgs{Stream: stream, Group: group, Consumer: ghost, Messages: []string{id}}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	b := newBroker(t, cfg)
	dead := new(collector)
	brokertest.Subscribe(t, b, "poison"+redis.DeadLetterSuffix, dead.handler)
	var called atomic.Bool
	brokertest.Subscribe(t, b, "poison", func(context.Context, *broker.Message) error {
		called.Store(true)
		return nil
	}, broker.Queue(group))

	got := dead.wait(t, 1, 10*time.Second)[0]
	if got.ID != id || string(got.Body) != "crash me" {
		t.Errorf("dead letter = %+v, want ID %s, body %q", got, id, "crash me")
	}
	if d := got.Header[redis.HeaderDeadLetterDeliveries]; d != "3" {
		t.Errorf("deliveries = %q, want 3", d)
	}
	if r := got.Header[redis.HeaderDeadLetterReason]; !strings.Contains(r, "without acknowledgement") {
		t.Errorf("reason = %q", r)
	}
	if called.Load() {
		t.Error("handler called for an entry delivered MaxDeliveries times already")
	}
}

// A member of a queue group that leaves hands the entries it received but
// did not handle back to the group at once, with their delivery counters as
// they were; the one its handler was working on (and rejected because its
// ctx was cancelled) follows after RedeliveryDelay.
func TestUnsubscribeHandsBack(t *testing.T) {
	prefix := testPrefix(t)
	cfg := fastConfig(prefix)
	cfg.MinIdle = redis.Duration(20 * time.Second) // far beyond the test's waits
	cfg.ReapAfter = redis.Duration(time.Minute)
	stream, group := prefix+"jobs", "workers"
	c := client(t)
	ctx := t.Context()
	if err := c.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"id", "job-" + string(rune('0'+i))}}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	a := newBroker(t, cfg)
	started := make(chan struct{})
	var once sync.Once
	subA := brokertest.Subscribe(t, a, "jobs", func(ctx context.Context, _ *broker.Message) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}, broker.Queue(group))
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	p, err := c.XPending(ctx, stream, group).Result()
	if err != nil || p.Count != n {
		t.Fatalf("pending = %+v, %v; want the %d entries read by the first member", p, err, n)
	}
	if err := subA.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}

	b := newBroker(t, cfg)
	got := new(collector)
	start := time.Now()
	brokertest.Subscribe(t, b, "jobs", got.handler, broker.Queue(group))
	msgs := got.wait(t, n, 5*time.Second)
	t.Logf("the second member got the %d entries after %v", n, time.Since(start).Round(time.Millisecond))
	counts := make(map[string]int)
	for _, m := range msgs {
		counts[m.Header[broker.DeliveryHeader]]++
	}
	if counts["1"] != n-1 || counts["2"] != 1 {
		t.Errorf("delivery counts %v, want %d × 1 and 1 × 2", counts, n-1)
	}
	consumers, err := c.XInfoConsumers(ctx, stream, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The first member's consumer is gone; the entries it handed back were
	// parked with a consumer of their own until the second one claimed them.
	if len(consumers) != 2 || !slices.ContainsFunc(consumers, func(c goredis.XInfoConsumer) bool { return c.Name == "micro.parked" && c.Pending == 0 }) {
		t.Errorf("consumers %+v; want the second member's and micro.parked, empty", consumers)
	}
}

// Unsubscribe deletes the consumer group of a subscriber without queue group
// and the consumer of a member of a queue group.
func TestUnsubscribeCleansUp(t *testing.T) {
	prefix := testPrefix(t)
	b := newBroker(t, fastConfig(prefix))
	c := client(t)
	ctx := t.Context()
	stream := prefix + "clean"

	eph := brokertest.Subscribe(t, b, "clean", new(collector).handler)
	member := brokertest.Subscribe(t, b, "clean", new(collector).handler, broker.Queue("workers"))
	groups, err := c.XInfoGroups(ctx, stream).Result()
	if err != nil || len(groups) != 2 {
		t.Fatalf("groups = %+v, %v; want 2", groups, err)
	}
	if err := eph.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := member.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	groups, err = c.XInfoGroups(ctx, stream).Result()
	if err != nil || len(groups) != 1 || groups[0].Name != "workers" {
		t.Fatalf("groups = %+v, %v; want only the queue group", groups, err)
	}
	if groups[0].Consumers != 0 {
		t.Errorf("queue group has %d consumers after its member left", groups[0].Consumers)
	}
}

// Subscribe deletes the consumer groups of subscribers without queue group
// that died without unsubscribing, once idle for ReapAfter.
func TestReap(t *testing.T) {
	prefix := testPrefix(t)
	cfg := fastConfig(prefix)
	cfg.MinIdle = redis.Duration(100 * time.Millisecond)
	cfg.Block = redis.Duration(100 * time.Millisecond)
	cfg.ReapAfter = redis.Duration(300 * time.Millisecond)
	c := client(t)
	ctx := t.Context()
	stream := prefix + "reap"
	stale := redis.EphemeralGroupPrefix + "stale"
	if err := c.XGroupCreateMkStream(ctx, stream, stale, "$").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.XGroupCreateConsumer(ctx, stream, stale, "dead").Err(); err != nil {
		t.Fatal(err)
	}
	b := newBroker(t, cfg)
	live := brokertest.Subscribe(t, b, "reap", new(collector).handler)
	defer live.Unsubscribe(ctx)
	time.Sleep(500 * time.Millisecond) // the stale group idles; the live one reads every Block
	brokertest.Subscribe(t, b, "reap", new(collector).handler)

	groups, err := c.XInfoGroups(ctx, stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 {
		t.Fatalf("groups %+v; want the two live ones", groups)
	}
	for _, g := range groups {
		if g.Name == stale {
			t.Errorf("stale group %s not reaped", stale)
		}
	}
}
