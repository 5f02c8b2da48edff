// Package brokertest is the conformance suite for broker.Broker
// implementations. An implementation's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, func(t *testing.T) broker.Broker {
//			return mybroker.New(...)
//		})
//	}
//
// The suite is written for real servers as well as in-process brokers:
//
//   - Run calls newBroker once per subtest and closes each broker it gets when
//     the subtest ends; newBroker registers, with t.Cleanup, whatever else
//     has to be released (a server, a connection).
//   - Every subtest uses its own topics and queue group names, made unique
//     with a random suffix, so that subtests, and runs on a shared server,
//     do not see each other's messages. Topics look like
//     "brokertest.fanout.3f9c1a2b4d5e6f70": lower-case letters, digits, '-'
//     and '.'.
//   - Nothing depends on tight timing. The suite waits for what it expects
//     with a deadline of WaitTimeout, and it asserts that something did not
//     happen (a duplicate, a delivery after Unsubscribe) only after a positive
//     control has arrived, plus a short grace period.
//   - Some brokers activate a subscription on the server a moment after
//     Subscribe returns. Before a subtest publishes, it waits until its
//     subscriptions are active by publishing probe messages, carrying the
//     header ProbeHeader, until each subscriber (each queue group) has seen
//     one. Probes are acknowledged and otherwise ignored. A broker whose
//     Subscribe returns only once the subscription is active passes the first
//     probe.
//   - Ordering is never checked. Redelivery is expected within WaitTimeout;
//     configure a broker under test (ack wait, claim interval) accordingly.
//   - Message headers published must arrive unchanged; a broker may add
//     headers of its own. If a broker sets broker.DeliveryHeader, the suite
//     checks that its value counts delivery attempts.
//   - Some checks go beyond "it works": a message body of 1 MiB must arrive
//     intact (raise a server's payload limit, such as NATS max_payload, if
//     needed); Unsubscribe must wait for a handler in progress; after Close,
//     Publish and Subscribe must return an error that errors.Is matches with
//     broker.ErrClosed, so a bridge between processes has to carry it over.
//   - Subtest Concurrency subscribes with broker.Concurrency(4) and checks
//     that every message arrives and that no more than 4 handler calls run
//     at once. It does not require calls to overlap: a broker that treats
//     n as 1, as broker.Concurrency allows, passes.
//   - Subtests run one after another, not in parallel.
//
// Beside Run, the package holds what the brokers' own tests share:
// Subscribe, Publish, WaitFor and CloseAtEnd, a Gauge of handler calls at
// once, the round trips of their examples (RoundTrip, ShareJobs) and the
// loops of their benchmarks (BenchPublish, BenchPublishConsume).
package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
)

const (
	// WaitTimeout bounds every wait of the suite for a message to arrive or
	// an operation to finish.
	WaitTimeout = 10 * time.Second
	// ProbeHeader marks the probe messages the suite publishes to find out
	// whether subscriptions are active.
	ProbeHeader = "Brokertest-Probe"

	// grace is how long the suite keeps watching for deliveries that must
	// not happen once the ones it expects have arrived.
	grace = 500 * time.Millisecond
	// poll is the interval of the suite's polling loops.
	poll = 5 * time.Millisecond
)

// Run runs the conformance suite against the brokers newBroker returns.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) broker.Broker)
	}{
		{"PublishSubscribe", testPublishSubscribe},
		{"FanOut", testFanOut},
		{"QueueGroup", testQueueGroup},
		{"TwoQueueGroups", testTwoQueueGroups},
		{"Redelivery", testRedelivery},
		{"Unsubscribe", testUnsubscribe},
		{"UnsubscribeWaitsForHandler", testUnsubscribeWaits},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"PublishBatch", testPublishBatch},
		{"Concurrency", testConcurrency},
		{"MessageID", testMessageID},
		{"LargeBody", testLargeBody},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBroker) })
	}
}

// open returns a broker from newBroker that is closed when t ends.
func open(t *testing.T, newBroker func(*testing.T) broker.Broker) broker.Broker {
	t.Helper()
	b := newBroker(t)
	if b == nil {
		t.Fatal("newBroker returned nil")
	}
	CloseAtEnd(t, b)
	return b
}

// CloseAtEnd closes b when t ends, waiting up to WaitTimeout, and reports
// an error of Close as a failure of t.
func CloseAtEnd(t testing.TB, b broker.Broker) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// unique returns name followed by a random suffix.
func unique(name string) string {
	var r [8]byte
	rand.Read(r[:])
	return name + hex.EncodeToString(r[:])
}

// newTopic returns a topic name unique to this run of t.
func newTopic(t *testing.T) string {
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, name)
	return unique("brokertest." + name + ".")
}

// timeout returns a context that ends after WaitTimeout or with t.
func timeout(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(t.Context(), WaitTimeout)
	t.Cleanup(cancel)
	return c
}

// WaitFor polls cond until it holds, failing t, which waits for what,
// after WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, WaitTimeout, what, cond)
}

// WaitWithin polls cond until it holds, failing t, which waits for what,
// after within: for the waits a test bounds otherwise than the suite does.
func WaitWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(poll)
	}
}

func isProbe(msg *broker.Message) bool { return msg.Header[ProbeHeader] != "" }

func cloneMessage(msg *broker.Message) *broker.Message {
	return &broker.Message{ID: msg.ID, Header: maps.Clone(msg.Header), Body: bytes.Clone(msg.Body)}
}

// delivery is one message received by one member of a recorder.
type delivery struct {
	member int
	msg    *broker.Message
}

// recorder records the messages its handlers receive. One recorder serves
// one subscriber, or all members of one queue group.
type recorder struct {
	// delay is how long each handler call takes, to let queue group members
	// share the work.
	delay time.Duration

	mu     sync.Mutex
	got    []delivery
	probes int
}

// handler returns a handler that records under member and acknowledges.
func (r *recorder) handler(member int) broker.Handler {
	return func(_ context.Context, msg *broker.Message) error {
		if isProbe(msg) {
			r.mu.Lock()
			r.probes++
			r.mu.Unlock()
			return nil
		}
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
		r.mu.Lock()
		r.got = append(r.got, delivery{member, cloneMessage(msg)})
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) active() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.probes > 0
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitLen waits until r has recorded at least n messages.
func (r *recorder) waitLen(t *testing.T, who string, n int) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d messages at %s", n, who), func() bool { return r.len() >= n })
}

// counts returns how often each body arrived.
func (r *recorder) counts() map[string]int {
	c := make(map[string]int)
	for _, d := range r.deliveries() {
		c[string(d.msg.Body)]++
	}
	return c
}

// checkBodies reports a body of want that r did not record, any body it
// recorded that is not in want and, with exactlyOnce, any body recorded more
// than once.
func (r *recorder) checkBodies(t *testing.T, who string, want []string, exactlyOnce bool) {
	t.Helper()
	counts := r.counts()
	missing, dup := 0, 0
	for _, w := range want {
		switch n := counts[w]; {
		case n == 0:
			if missing++; missing <= 5 {
				t.Errorf("%s: message %q not delivered", who, w)
			}
		case n > 1 && exactlyOnce:
			if dup++; dup <= 5 {
				t.Errorf("%s: message %q delivered %d times, want once", who, w, n)
			}
		}
		delete(counts, w)
	}
	if missing > 5 || dup > 5 {
		t.Errorf("%s: %d messages missing, %d delivered more than once", who, missing, dup)
	}
	for body := range counts {
		t.Errorf("%s: unexpected message %q", who, body)
	}
}

// awaitActive waits until every recorder has seen a probe published to topic.
// It is the suite's only allowance for subscriptions that become active
// after Subscribe returns.
func awaitActive(t *testing.T, b broker.Broker, topic string, recs ...*recorder) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for i := 1; ; i++ {
		probe := &broker.Message{ID: unique("probe-"), Header: map[string]string{ProbeHeader: strconv.Itoa(i)}}
		if err := publishWithin(t, b, topic, probe); err != nil {
			t.Fatalf("Publish probe: %v", err)
		}
		// Wait a little longer for each probe, up to half a second.
		next := time.Now().Add(min(time.Duration(i)*20*time.Millisecond, 500*time.Millisecond))
		for time.Now().Before(next) {
			if !slices.ContainsFunc(recs, func(r *recorder) bool { return !r.active() }) {
				return
			}
			time.Sleep(poll)
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions to %s not active after %v", topic, WaitTimeout)
		}
	}
}

// Subscribe subscribes h to topic on b with opts, within WaitTimeout, and
// fails t if it cannot.
func Subscribe(t testing.TB, b broker.Broker, topic string, h broker.Handler, opts ...broker.SubscribeOption) broker.Subscription {
	t.Helper()
	sub, err := b.Subscribe(timeout(t), topic, h, opts...)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	if sub == nil {
		t.Fatalf("Subscribe(%q) returned a nil subscription", topic)
	}
	return sub
}

// Publish publishes msg to topic on b, within WaitTimeout, and fails t if
// it cannot.
func Publish(t testing.TB, b broker.Broker, topic string, msg *broker.Message) {
	t.Helper()
	if err := publishWithin(t, b, topic, msg); err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
}

// publishWithin publishes msg with a deadline of WaitTimeout.
func publishWithin(t testing.TB, b broker.Broker, topic string, msg *broker.Message) error {
	ctx, cancel := context.WithTimeout(t.Context(), WaitTimeout)
	defer cancel()
	return b.Publish(ctx, topic, msg)
}

// publishBodies publishes one message per body.
func publishBodies(t *testing.T, b broker.Broker, topic string, bodies []string) {
	t.Helper()
	for _, body := range bodies {
		Publish(t, b, topic, &broker.Message{Body: []byte(body)})
	}
}

// publishOnce publishes want to topic and checks that each of recs, named
// by the same element of who, gets every body exactly once: it waits for
// them all, then a grace period for duplicates.
func publishOnce(t *testing.T, b broker.Broker, topic string, want, who []string, recs ...*recorder) {
	t.Helper()
	publishBodies(t, b, topic, want)
	for i, rec := range recs {
		rec.waitLen(t, who[i], len(want))
	}
	time.Sleep(grace)
	for i, rec := range recs {
		rec.checkBodies(t, who[i], want, true)
	}
}

func bodies(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// checkHeader reports a header of want missing or changed in got.
func checkHeader(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("header %q missing", k)
		} else if g != v {
			t.Errorf("header %q = %q, want %q", k, g, v)
		}
	}
}

// checkDeliveryCount reports a broker.DeliveryHeader, if set, that is not
// a number of at least least.
func checkDeliveryCount(t *testing.T, msg *broker.Message, least int) {
	t.Helper()
	v, ok := msg.Header[broker.DeliveryHeader]
	if !ok {
		return
	}
	if n, err := strconv.Atoi(v); err != nil || n < least {
		t.Errorf("header %s = %q, want a number >= %d", broker.DeliveryHeader, v, least)
	}
}

func testPublishSubscribe(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	tests := []struct {
		name string
		msg  broker.Message
	}{
		{"text", broker.Message{
			Header: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			Body:   []byte("hello, world"),
		}},
		{"binary", broker.Message{
			Header: map[string]string{
				"Content-Type":     "application/octet-stream",
				"X-Brokertest-Key": "value with spaces, punctuation: ;=/?",
				"X-Brokertest-Utf": "héllo wörld, 世界",
			},
			Body: []byte{0, 1, 2, 0, 0xff, 0xfe, '\n', '\r', 0},
		}},
		{"no header", broker.Message{Body: []byte("body only")}},
		{"empty body", broker.Message{Header: map[string]string{"X-Brokertest-Key": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t, newBroker)
			topic := newTopic(t)
			rec := new(recorder)
			sub := Subscribe(t, b, topic, rec.handler(0))
			if got := sub.Topic(); got != topic {
				t.Errorf("Subscription.Topic() = %q, want %q", got, topic)
			}
			awaitActive(t, b, topic, rec)

			msg := tt.msg
			Publish(t, b, topic, &msg)
			rec.waitLen(t, "subscriber", 1)

			got := rec.deliveries()[0].msg
			if !bytes.Equal(got.Body, tt.msg.Body) {
				t.Errorf("body = %q, want %q", got.Body, tt.msg.Body)
			}
			checkHeader(t, got.Header, tt.msg.Header)
			if got.ID == "" {
				t.Error("delivered message has an empty ID; the broker must fill it in")
			}
			checkDeliveryCount(t, got, 1)
		})
	}
}

func testFanOut(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	recs := make([]*recorder, 3)
	for i := range recs {
		recs[i] = new(recorder)
		Subscribe(t, b, topic, recs[i].handler(0))
	}
	awaitActive(t, b, topic, recs...)

	publishOnce(t, b, topic, bodies("fanout-", 50), []string{"subscriber 0", "subscriber 1", "subscriber 2"}, recs...)
}

// testPublishBatch: a broker.BatchPublisher publishes every valid
// publication of a batch, each once, and reports each invalid one (empty
// topic, nil message) in its place without losing the others. It is
// skipped for a broker that is no BatchPublisher.
func testPublishBatch(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	bp, ok := b.(broker.BatchPublisher)
	if !ok {
		t.Skip("not a broker.BatchPublisher: nothing to check")
	}
	topic := newTopic(t)
	rec := new(recorder)
	Subscribe(t, b, topic, rec.handler(0), broker.Queue(unique("brokertest-batch-")))
	awaitActive(t, b, topic, rec)

	var (
		pubs []broker.Publication
		want []string
		bad  []int
	)
	for i := range 60 {
		switch i % 20 {
		case 7:
			bad = append(bad, len(pubs))
			pubs = append(pubs, broker.Publication{Topic: "", Message: &broker.Message{Body: []byte("no topic")}})
		case 13:
			bad = append(bad, len(pubs))
			pubs = append(pubs, broker.Publication{Topic: topic})
		}
		body := fmt.Sprintf("batch-%03d", i)
		want = append(want, body)
		pubs = append(pubs, broker.Publication{Topic: topic, Message: &broker.Message{
			Header: map[string]string{"Content-Type": "text/plain"}, Body: []byte(body)}})
	}
	errs := make([]error, len(pubs))
	for i := range errs {
		errs[i] = errors.New("not set by PublishBatch")
	}
	bp.PublishBatch(timeout(t), pubs, errs)
	for i, err := range errs {
		if slices.Contains(bad, i) {
			if err == nil {
				t.Errorf("publication %d (topic %q, message %v): nil error, want one", i, pubs[i].Topic, pubs[i].Message)
			}
		} else if err != nil {
			t.Errorf("publication %d: %v", i, err)
		}
	}
	rec.waitLen(t, "batch subscriber", len(want))
	time.Sleep(grace)
	rec.checkBodies(t, "batch subscriber", want, true)
	for _, d := range rec.deliveries() {
		if got := d.msg.Header["Content-Type"]; got != "text/plain" {
			t.Errorf("message %q: Content-Type %q, want text/plain", d.msg.Body, got)
			break
		}
	}
}

// subscribeGroup subscribes members handlers of rec to topic in queue group.
func subscribeGroup(t *testing.T, b broker.Broker, topic, group string, rec *recorder, members int) {
	t.Helper()
	for i := range members {
		Subscribe(t, b, topic, rec.handler(i), broker.Queue(group))
	}
}

func testQueueGroup(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	const members = 3
	rec := &recorder{delay: time.Millisecond}
	subscribeGroup(t, b, topic, unique("brokertest-group-"), rec, members)
	awaitActive(t, b, topic, rec)

	publishOnce(t, b, topic, bodies("group-", 200), []string{"queue group"}, rec)

	perMember := make([]int, members)
	for _, d := range rec.deliveries() {
		perMember[d.member]++
	}
	busy := 0
	for _, n := range perMember {
		if n > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("messages per group member = %v; want the load spread over more than one member", perMember)
	}
}

func testTwoQueueGroups(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	recA, recB := new(recorder), new(recorder)
	subscribeGroup(t, b, topic, unique("brokertest-a-"), recA, 2)
	subscribeGroup(t, b, topic, unique("brokertest-b-"), recB, 2)
	awaitActive(t, b, topic, recA, recB)

	publishOnce(t, b, topic, bodies("groups-", 100), []string{"group a", "group b"}, recA, recB)
}

func testRedelivery(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	tests := []struct {
		name  string
		group bool
	}{
		{"subscriber", false},
		{"queue group", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t, newBroker)
			topic := newTopic(t)

			const n = 10
			var (
				mu       sync.Mutex
				attempts = make(map[string][]*broker.Message) // by body
				acked    = make(map[string]bool)
			)
			probes := new(recorder)
			h := func(ctx context.Context, msg *broker.Message) error {
				if isProbe(msg) {
					return probes.handler(0)(ctx, msg)
				}
				mu.Lock()
				defer mu.Unlock()
				key := string(msg.Body)
				attempts[key] = append(attempts[key], cloneMessage(msg))
				if len(attempts[key]) == 1 {
					return errors.New("brokertest: rejected on purpose")
				}
				acked[key] = true
				return nil
			}
			var opts []broker.SubscribeOption
			if tt.group {
				opts = append(opts, broker.Queue(unique("brokertest-group-")))
			}
			Subscribe(t, b, topic, h, opts...)
			awaitActive(t, b, topic, probes)

			want := make([]*broker.Message, n)
			for i := range want {
				want[i] = &broker.Message{ID: unique("redelivery-"), Body: fmt.Appendf(nil, "redelivery-%d", i)}
				Publish(t, b, topic, want[i])
			}
			WaitFor(t, "every rejected message to be redelivered and acknowledged", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acked) == n
			})

			mu.Lock()
			defer mu.Unlock()
			for _, w := range want {
				got := attempts[string(w.Body)]
				if len(got) < 2 {
					t.Errorf("message %q delivered %d times, want at least 2", w.Body, len(got))
					continue
				}
				for i, m := range got {
					if m.ID != w.ID {
						t.Errorf("message %q delivery %d has ID %q, want %q", w.Body, i+1, m.ID, w.ID)
					}
				}
				checkDeliveryCount(t, got[1], 2)
			}
		})
	}
}

func testUnsubscribe(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	gone, control := new(recorder), new(recorder)
	sub := Subscribe(t, b, topic, gone.handler(0))
	Subscribe(t, b, topic, control.handler(0))
	awaitActive(t, b, topic, gone, control)

	publishBodies(t, b, topic, []string{"before"})
	gone.waitLen(t, "subscriber", 1)
	control.waitLen(t, "control subscriber", 1)

	if err := sub.Unsubscribe(timeout(t)); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	after := bodies("after-", 20)
	publishBodies(t, b, topic, after)
	control.waitLen(t, "control subscriber", 1+len(after))
	time.Sleep(grace)
	gone.checkBodies(t, "unsubscribed subscriber", []string{"before"}, true)

	// A second Unsubscribe is harmless.
	if err := sub.Unsubscribe(timeout(t)); err != nil {
		t.Errorf("second Unsubscribe: %v", err)
	}
}

func testUnsubscribeWaits(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	var (
		started  = make(chan struct{})
		release  = make(chan struct{})
		returned atomic.Bool
		once     sync.Once
	)
	probes := new(recorder)
	sub := Subscribe(t, b, topic, func(ctx context.Context, msg *broker.Message) error {
		if isProbe(msg) {
			return probes.handler(0)(ctx, msg)
		}
		once.Do(func() { close(started) })
		select {
		case <-release:
		case <-time.After(WaitTimeout):
		}
		returned.Store(true)
		return nil
	})
	awaitActive(t, b, topic, probes)

	publishBodies(t, b, topic, []string{"slow"})
	select {
	case <-started:
	case <-time.After(WaitTimeout):
		t.Fatal("handler not called")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	if err := sub.Unsubscribe(timeout(t)); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if !returned.Load() {
		t.Error("Unsubscribe returned while the handler was still running")
	}
}

func testConcurrentPublishers(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	rec := new(recorder)
	Subscribe(t, b, topic, rec.handler(0))
	awaitActive(t, b, topic, rec)

	const publishers, each = 8, 250
	var (
		wg   sync.WaitGroup
		errs = make(chan error, publishers)
		want []string
	)
	for p := range publishers {
		prefix := fmt.Sprintf("p%d-", p)
		want = append(want, bodies(prefix, each)...)
		ctx := timeout(t)
		wg.Go(func() {
			msg := new(broker.Message) // reused: Publish must not keep it
			for i := range each {
				msg.Body = append(msg.Body[:0], prefix...)
				msg.Body = strconv.AppendInt(msg.Body, int64(i), 10)
				if err := b.Publish(ctx, topic, msg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	rec.waitLen(t, "subscriber", len(want))
	rec.checkBodies(t, "subscriber", want, false)
}

func testMessageID(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	rec := new(recorder)
	Subscribe(t, b, topic, rec.handler(0))
	awaitActive(t, b, topic, rec)

	id := unique("brokertest-id-")
	Publish(t, b, topic, &broker.Message{ID: id, Body: []byte("with id")})
	Publish(t, b, topic, &broker.Message{Body: []byte("without id 1")})
	Publish(t, b, topic, &broker.Message{Body: []byte("without id 2")})
	rec.waitLen(t, "subscriber", 3)

	ids := make(map[string]string) // body → ID
	for _, d := range rec.deliveries() {
		ids[string(d.msg.Body)] = d.msg.ID
	}
	if got := ids["with id"]; got != id {
		t.Errorf("message published with ID %q arrived with ID %q", id, got)
	}
	id1, id2 := ids["without id 1"], ids["without id 2"]
	if id1 == "" || id2 == "" {
		t.Errorf("messages published without ID arrived with IDs %q and %q; want them filled in", id1, id2)
	} else if id1 == id2 {
		t.Errorf("two messages published without ID arrived with the same ID %q", id1)
	}
}

func testLargeBody(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	rec := new(recorder)
	Subscribe(t, b, topic, rec.handler(0))
	awaitActive(t, b, topic, rec)

	body := make([]byte, 1<<20)
	rand.Read(body)
	Publish(t, b, topic, &broker.Message{Body: body})
	rec.waitLen(t, "subscriber", 1)

	got := rec.deliveries()[0].msg.Body
	if len(got) != len(body) {
		t.Fatalf("body has %d bytes, want %d", len(got), len(body))
	}
	for i := range got {
		if got[i] != body[i] {
			t.Fatalf("body differs at byte %d", i)
		}
	}
}

func testClose(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := newBroker(t)
	if b == nil {
		t.Fatal("newBroker returned nil")
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			b.Close(context.Background())
		}
	})
	topic := newTopic(t)
	rec := new(recorder)
	Subscribe(t, b, topic, rec.handler(0))
	awaitActive(t, b, topic, rec)

	closed = true
	if err := b.Close(timeout(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := b.Publish(timeout(t), topic, &broker.Message{Body: []byte("after close")})
	if !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close = %v, want broker.ErrClosed", err)
	}
	_, err = b.Subscribe(timeout(t), topic, rec.handler(0))
	if !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want broker.ErrClosed", err)
	}
}

func testConcurrency(t *testing.T, newBroker func(*testing.T) broker.Broker) {
	b := open(t, newBroker)
	topic := newTopic(t)
	const limit = 4
	g := NewGauge(limit)
	rec := &recorder{}
	record := rec.handler(0)
	h := func(ctx context.Context, msg *broker.Message) error {
		if isProbe(msg) {
			return record(ctx, msg)
		}
		g.Enter()
		time.Sleep(10 * time.Millisecond) // long enough for calls to overlap
		g.Leave()
		return record(ctx, msg)
	}
	Subscribe(t, b, topic, h, broker.Concurrency(limit))
	awaitActive(t, b, topic, rec)

	publishOnce(t, b, topic, bodies("concurrency-", 40), []string{"subscriber"}, rec)
	most := g.Max()
	if most > limit {
		t.Errorf("%d handler calls ran at once; broker.Concurrency(%d) allows at most %d", most, limit, limit)
	}
	t.Logf("at most %d handler calls at once", most)
}
