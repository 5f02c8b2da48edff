package nats_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// The core-mode suite. Core NATS stores nothing, so a message a handler
// rejects cannot be delivered again and brokertest's Redelivery subtest
// cannot pass; these tests check everything else the suite checks, and that
// a rejection is counted instead.

// collector records what the handlers of one subscriber, or of all members
// of one queue group, receive.
type collector struct {
	delay time.Duration

	mu   sync.Mutex
	msgs []*broker.Message
	by   []int // member index of each message
}

func (c *collector) handler(member int) broker.Handler {
	return func(_ context.Context, msg *broker.Message) error {
		if c.delay > 0 {
			time.Sleep(c.delay)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.msgs = append(c.msgs, &broker.Message{ID: msg.ID, Header: maps.Clone(msg.Header), Body: bytes.Clone(msg.Body)})
		c.by = append(c.by, member)
		return nil
	}
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) wait(t *testing.T, n int) {
	t.Helper()
	brokertest.WaitFor(t, fmt.Sprintf("%d messages", n), func() bool { return c.len() >= n })
}

// bodies returns how often each body arrived.
func (c *collector) bodies() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int)
	for _, m := range c.msgs {
		out[string(m.Body)]++
	}
	return out
}

func publishN(t *testing.T, b broker.Broker, topic, prefix string, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		body := prefix + strconv.Itoa(i)
		want = append(want, body)
		if err := b.Publish(t.Context(), topic, &broker.Message{Body: []byte(body)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	return want
}

// exactlyOnce checks that c got each of want once and nothing else.
func exactlyOnce(t *testing.T, who string, c *collector, want []string) {
	t.Helper()
	got := c.bodies()
	for _, w := range want {
		if got[w] != 1 {
			t.Errorf("%s: %q delivered %d times, want once", who, w, got[w])
		}
		delete(got, w)
	}
	for body := range got {
		t.Errorf("%s: unexpected message %q", who, body)
	}
}

func coreBroker(t *testing.T) *micronats.Broker {
	return newBroker(t, testConfig(t, micronats.ModeCore))
}

func TestCore(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b *micronats.Broker, topic string)
	}{
		{"PublishSubscribe", testCorePublishSubscribe},
		{"FanOut", testCoreFanOut},
		{"QueueGroup", testCoreQueueGroup},
		{"TwoQueueGroups", testCoreTwoQueueGroups},
		{"RejectIsCountedNotRedelivered", testCoreReject},
		{"Unsubscribe", testCoreUnsubscribe},
		{"UnsubscribeWaitsForHandler", testCoreUnsubscribeWaits},
		{"ConcurrentPublishers", testCoreConcurrentPublishers},
		{"MessageID", testCoreMessageID},
		{"LargeBody", testCoreLargeBody},
		{"Close", testCoreClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, coreBroker(t), "core."+randHex(8))
		})
	}
}

func testCorePublishSubscribe(t *testing.T, b *micronats.Broker, topic string) {
	c := new(collector)
	sub := brokertest.Subscribe(t, b, topic, c.handler(0))
	if sub.Topic() != topic {
		t.Errorf("Topic() = %q, want %q", sub.Topic(), topic)
	}
	want := &broker.Message{
		Header: map[string]string{"Content-Type": "application/octet-stream", "X-Key": "value, with: punctuation;=/?", "X-Utf": "héllo 世界"},
		Body:   []byte{0, 1, 2, 0xff, '\n', 0},
	}
	if err := b.Publish(t.Context(), topic, want); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 1)
	got := c.msgs[0]
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("body = %q, want %q", got.Body, want.Body)
	}
	for k, v := range want.Header {
		if got.Header[k] != v {
			t.Errorf("header %q = %q, want %q", k, got.Header[k], v)
		}
	}
	if got.ID == "" {
		t.Error("empty ID")
	}
	if d := got.Header[broker.DeliveryHeader]; d != "1" {
		t.Errorf("%s = %q, want 1", broker.DeliveryHeader, d)
	}
}

func testCoreFanOut(t *testing.T, b *micronats.Broker, topic string) {
	cs := []*collector{new(collector), new(collector), new(collector)}
	for _, c := range cs {
		brokertest.Subscribe(t, b, topic, c.handler(0))
	}
	want := publishN(t, b, topic, "fanout-", 50)
	for i, c := range cs {
		c.wait(t, len(want))
		time.Sleep(100 * time.Millisecond)
		exactlyOnce(t, fmt.Sprint("subscriber ", i), c, want)
	}
}

func testCoreQueueGroup(t *testing.T, b *micronats.Broker, topic string) {
	c := &collector{delay: time.Millisecond}
	for i := range 3 {
		brokertest.Subscribe(t, b, topic, c.handler(i), broker.Queue("workers"))
	}
	want := publishN(t, b, topic, "group-", 200)
	c.wait(t, len(want))
	time.Sleep(200 * time.Millisecond)
	exactlyOnce(t, "queue group", c, want)
	per := map[int]int{}
	for _, m := range c.by {
		per[m]++
	}
	if len(per) < 2 {
		t.Errorf("messages per member = %v; want the load spread", per)
	}
}

func testCoreTwoQueueGroups(t *testing.T, b *micronats.Broker, topic string) {
	a, bb := new(collector), new(collector)
	for i := range 2 {
		brokertest.Subscribe(t, b, topic, a.handler(i), broker.Queue("a"))
		brokertest.Subscribe(t, b, topic, bb.handler(i), broker.Queue("b"))
	}
	want := publishN(t, b, topic, "groups-", 100)
	a.wait(t, len(want))
	bb.wait(t, len(want))
	time.Sleep(200 * time.Millisecond)
	exactlyOnce(t, "group a", a, want)
	exactlyOnce(t, "group b", bb, want)
}

func testCoreReject(t *testing.T, b *micronats.Broker, topic string) {
	var calls atomic.Int64
	brokertest.Subscribe(t, b, topic, func(context.Context, *broker.Message) error {
		calls.Add(1)
		return errors.New("rejected on purpose")
	})
	control := new(collector)
	brokertest.Subscribe(t, b, topic, control.handler(0))
	publishN(t, b, topic, "reject-", 10)
	control.wait(t, 10)
	brokertest.WaitFor(t, "10 rejections counted", func() bool { return b.Stats().Rejected >= 10 })
	time.Sleep(300 * time.Millisecond)
	if n := calls.Load(); n != 10 {
		t.Errorf("handler called %d times, want 10: core NATS does not deliver again", n)
	}
	if s := b.Stats(); s.Rejected != 10 || s.Delivered != 20 {
		t.Errorf("Stats = %+v, want Rejected 10, Delivered 20", s)
	}
}

func testCoreUnsubscribe(t *testing.T, b *micronats.Broker, topic string) {
	gone, control := new(collector), new(collector)
	sub := brokertest.Subscribe(t, b, topic, gone.handler(0))
	brokertest.Subscribe(t, b, topic, control.handler(0))
	publishN(t, b, topic, "before-", 1)
	gone.wait(t, 1)
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	publishN(t, b, topic, "after-", 20)
	control.wait(t, 21)
	time.Sleep(200 * time.Millisecond)
	exactlyOnce(t, "unsubscribed", gone, []string{"before-0"})
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Errorf("second Unsubscribe: %v", err)
	}
}

func testCoreUnsubscribeWaits(t *testing.T, b *micronats.Broker, topic string) {
	started, release := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	sub := brokertest.Subscribe(t, b, topic, func(context.Context, *broker.Message) error {
		close(started)
		<-release
		returned.Store(true)
		return nil
	})
	publishN(t, b, topic, "slow-", 1)
	<-started
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Error("Unsubscribe returned while the handler ran")
	}
}

func testCoreConcurrentPublishers(t *testing.T, b *micronats.Broker, topic string) {
	c := new(collector)
	brokertest.Subscribe(t, b, topic, c.handler(0))
	var (
		wg   sync.WaitGroup
		want []string
	)
	for p := range 8 {
		for i := range 250 {
			want = append(want, fmt.Sprintf("p%d-%d", p, i))
		}
		wg.Go(func() {
			msg := new(broker.Message)
			for i := range 250 {
				msg.Body = fmt.Appendf(msg.Body[:0], "p%d-%d", p, i)
				if err := b.Publish(t.Context(), topic, msg); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.wait(t, len(want))
	exactlyOnce(t, "subscriber", c, want)
	ids := map[string]bool{}
	for _, m := range c.msgs {
		if ids[m.ID] {
			t.Fatalf("ID %q given to two messages", m.ID)
		}
		ids[m.ID] = true
	}
}

func testCoreMessageID(t *testing.T, b *micronats.Broker, topic string) {
	c := new(collector)
	brokertest.Subscribe(t, b, topic, c.handler(0))
	if err := b.Publish(t.Context(), topic, &broker.Message{ID: "my-id", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 1)
	if c.msgs[0].ID != "my-id" {
		t.Errorf("ID = %q, want my-id", c.msgs[0].ID)
	}
}

func testCoreLargeBody(t *testing.T, b *micronats.Broker, topic string) {
	c := new(collector)
	brokertest.Subscribe(t, b, topic, c.handler(0))
	body := make([]byte, 1<<20)
	rand.Read(body)
	if err := b.Publish(t.Context(), topic, &broker.Message{Body: body}); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 1)
	if !bytes.Equal(c.msgs[0].Body, body) {
		t.Error("1 MiB body changed on the way")
	}
}

func testCoreClose(t *testing.T, b *micronats.Broker, topic string) {
	brokertest.Subscribe(t, b, topic, new(collector).handler(0))
	if err := b.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), topic, &broker.Message{}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(t.Context(), topic, new(collector).handler(0)); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
}
