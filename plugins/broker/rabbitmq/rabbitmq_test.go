package rabbitmq_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if err := deleteExampleTopology(); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", err)
			code = max(code, 1)
		}
		os.Exit(code)
	}))
}

// deleteExampleTopology deletes what the examples declare.
func deleteExampleTopology() error {
	conn, err := amqp.Dial(serverURL())
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if _, err := ch.QueueDelete(rabbitmq.QueueName(exampleExchange, "jobs", "workers"), false, false, false); err != nil {
		return err
	}
	if _, err := ch.QueueDelete(exampleExchange+".dlq", false, false, false); err != nil {
		return err
	}
	for _, x := range []string{exampleExchange, exampleExchange + ".dlx"} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return err
		}
	}
	return nil
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(rabbitmq.Config) rabbitmq.Config
	}{
		{"default", func(c rabbitmq.Config) rabbitmq.Config { return c }},
		{"prefetch 1 no limit", func(c rabbitmq.Config) rabbitmq.Config {
			c.Prefetch = 1
			c.MaxDeliveries = rabbitmq.NoLimit
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			brokertest.Run(t, func(t *testing.T) broker.Broker {
				return f.openRaw(t, tt.cfg(f.config()))
			})
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		cfg   rabbitmq.Config
		field string // named in the error
	}{
		{"bad scheme", rabbitmq.Config{URL: "http://localhost/"}, "Config.URL"},
		{"reserved exchange", rabbitmq.Config{Exchange: "amq.topic"}, "Config.Exchange"},
		{"long exchange", rabbitmq.Config{Exchange: strings.Repeat("x", 252)}, "Config.Exchange"},
		{"negative prefetch", rabbitmq.Config{Prefetch: -1}, "Config.Prefetch"},
		{"huge prefetch", rabbitmq.Config{Prefetch: 70000}, "Config.Prefetch"},
		{"max deliveries", rabbitmq.Config{MaxDeliveries: -2}, "Config.MaxDeliveries"},
		{"sub-second heartbeat", rabbitmq.Config{Heartbeat: rabbitmq.Duration(time.Millisecond)}, "Config.Heartbeat"},
		{"negative dial timeout", rabbitmq.Config{DialTimeout: -1}, "Config.DialTimeout"},
		{"max below min", rabbitmq.Config{
			ReconnectMin: rabbitmq.Duration(time.Second),
			ReconnectMax: rabbitmq.Duration(time.Millisecond),
		}, "Config.ReconnectMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := rabbitmq.New(t.Context(), tt.cfg)
			if err == nil {
				b.Close(t.Context())
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("New: %v; want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	const doc = `{"url": "amqp://u:p@host:5673/vh", "exchange": "events", "prefetch": 10,
		"max_deliveries": -1, "heartbeat": "5s", "dial_timeout": 2000000000,
		"reconnect_min": "50ms", "reconnect_max": "1m"}`
	var cfg rabbitmq.Config
	if err := json.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	want := rabbitmq.Config{
		URL: "amqp://u:p@host:5673/vh", Exchange: "events", Prefetch: 10, MaxDeliveries: rabbitmq.NoLimit,
		Heartbeat: rabbitmq.Duration(5 * time.Second), DialTimeout: rabbitmq.Duration(2 * time.Second),
		ReconnectMin: rabbitmq.Duration(50 * time.Millisecond), ReconnectMax: rabbitmq.Duration(time.Minute),
	}
	if cfg != want {
		t.Errorf("decoded %+v, want %+v", cfg, want)
	}
	out, err := json.Marshal(rabbitmq.Config{Heartbeat: rabbitmq.Duration(90 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `{"heartbeat":"1m30s"}` {
		t.Errorf("encoded %s", got)
	}
	if err := json.Unmarshal([]byte(`{"heartbeat": "soon"}`), &cfg); err == nil {
		t.Error("decoding a bad duration succeeded")
	}
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// Port 1 on the loopback interface refuses connections.
	_, err := rabbitmq.New(ctx, rabbitmq.Config{URL: "amqp://guest:guest@127.0.0.1:1/"})
	if err == nil {
		t.Fatal("New succeeded without a server")
	}
	if !strings.Contains(err.Error(), "connect") {
		t.Errorf("New: %v; want a connection error", err)
	}
}

func TestQueueName(t *testing.T) {
	tests := []struct {
		name                   string
		exchange, topic, group string
		want                   string
	}{
		{"short", "micro", "orders.created", "billing", "micro.orders.created.billing"},
		{"long", "micro", strings.Repeat("t", 250), "g", ""},
		{"long utf-8", "micro", strings.Repeat("é", 125), "g", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rabbitmq.QueueName(tt.exchange, tt.topic, tt.group)
			if tt.want != "" && got != tt.want {
				t.Errorf("QueueName = %q, want %q", got, tt.want)
			}
			if len(got) > 255 {
				t.Errorf("QueueName is %d bytes long", len(got))
			}
			if other := rabbitmq.QueueName(tt.exchange, tt.topic, tt.group+"x"); other == got {
				t.Errorf("two groups share the queue %q", got)
			}
		})
	}
}

// recv collects the messages a handler receives.
type recv struct {
	mu   sync.Mutex
	msgs []*broker.Message
	fail bool // reject every message
}

func (r *recv) handle(_ context.Context, msg *broker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	if r.fail {
		return errors.New("rejected on purpose")
	}
	return nil
}

func (r *recv) wait(t *testing.T, n int) []*broker.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]*broker.Message(nil), r.msgs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d messages after 10s, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitID waits until a message with ID id arrived.
func (r *recv) waitID(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		found := slices.ContainsFunc(r.msgs, func(m *broker.Message) bool { return m.ID == id })
		r.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %q not received after 10s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// getOne takes one message from queue, waiting up to 10 s for it.
func getOne(t *testing.T, ch *amqp.Channel, queue string) amqp.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get from %s: %v", queue, err)
		}
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message in %s after 10s", queue)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeadLetter(t *testing.T) {
	for _, group := range []string{"", "workers"} {
		t.Run(cmp.Or(group, "no group"), func(t *testing.T) {
			f := newFixture(t)
			cfg := f.config()
			cfg.MaxDeliveries = 3
			b := f.open(t, cfg)
			topic := unique("deadletter.")
			r := &recv{fail: true}
			var opts []broker.SubscribeOption
			if group != "" {
				opts = append(opts, broker.Queue(group))
			}
			if _, err := b.Subscribe(t.Context(), topic, r.handle, opts...); err != nil {
				t.Fatal(err)
			}
			msg := &broker.Message{ID: "poison-1", Header: map[string]string{"X-Test": "dlx"}, Body: []byte("poison")}
			if err := b.Publish(t.Context(), topic, msg); err != nil {
				t.Fatal(err)
			}

			d := getOne(t, f.channel(t), f.exchange+".dlq")
			if d.MessageId != "poison-1" || string(d.Body) != "poison" || d.RoutingKey != topic {
				t.Errorf("dead letter: id %q, body %q, routing key %q", d.MessageId, d.Body, d.RoutingKey)
			}
			if d.Headers["X-Test"] != "dlx" {
				t.Errorf("dead letter headers %v", d.Headers)
			}
			if _, ok := d.Headers["x-death"]; !ok {
				t.Errorf("dead letter without x-death header: %v", d.Headers)
			}
			got := r.wait(t, 3)
			time.Sleep(200 * time.Millisecond)
			got = r.wait(t, 3)
			if len(got) != 3 {
				t.Errorf("handler called %d times, want 3", len(got))
			}
			for i, m := range got {
				if c := m.Header[broker.DeliveryHeader]; c != strconv.Itoa(i+1) {
					t.Errorf("delivery %d: %s = %q", i+1, broker.DeliveryHeader, c)
				}
			}
		})
	}
}

func TestGroupQueueOutlivesMembers(t *testing.T) {
	f := newFixture(t)
	b := f.open(t, f.config())
	topic := unique("durable.")
	sub, err := b.Subscribe(t.Context(), topic, (&recv{}).handle, broker.Queue("g"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Published while the group has no member: kept for it.
	if err := b.Publish(t.Context(), topic, &broker.Message{ID: "kept", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	r := new(recv)
	if _, err := b.Subscribe(t.Context(), topic, r.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	if got := r.wait(t, 1); got[0].ID != "kept" {
		t.Errorf("got message %q", got[0].ID)
	}
}

func TestGroupQueueSettingsMismatch(t *testing.T) {
	f := newFixture(t)
	b := f.open(t, f.config())
	topic := unique("mismatch.")
	if _, err := b.Subscribe(t.Context(), topic, (&recv{}).handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.MaxDeliveries = 2
	other := f.open(t, cfg)
	_, err := other.Subscribe(t.Context(), topic, (&recv{}).handle, broker.Queue("g"))
	if err == nil {
		t.Fatal("Subscribe with another MaxDeliveries succeeded")
	}
	if q := rabbitmq.QueueName(f.exchange, topic, "g"); !strings.Contains(err.Error(), q) {
		t.Errorf("Subscribe: %v; want the error to name queue %s", err, q)
	}
	// The broker still works.
	r := new(recv)
	if _, err := other.Subscribe(t.Context(), topic, r.handle); err != nil {
		t.Fatal(err)
	}
	if err := other.Publish(t.Context(), topic, &broker.Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	r.wait(t, 1)
}

func TestPublishInvalid(t *testing.T) {
	f := newFixture(t)
	b := f.open(t, f.config())
	tests := []struct {
		name  string
		topic string
		msg   *broker.Message
	}{
		{"empty topic", "", &broker.Message{}},
		{"long topic", strings.Repeat("t", 256), &broker.Message{}},
		{"nil message", "t", nil},
		{"long ID", "t", &broker.Message{ID: strings.Repeat("i", 256)}},
		{"empty header key", "t", &broker.Message{Header: map[string]string{"": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.Publish(t.Context(), tt.topic, tt.msg); err == nil {
				t.Error("Publish succeeded")
			}
		})
	}
	// The broker still works.
	if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
		t.Errorf("Publish after invalid ones: %v", err)
	}
}

func TestReconnect(t *testing.T) {
	f := newFixture(t)
	p, url := newProxy(t, f.url)
	cfg := f.config()
	cfg.URL = url
	b := f.open(t, cfg)
	topic := unique("reconnect.")
	group, solo := new(recv), new(recv)
	if _, err := b.Subscribe(t.Context(), topic, group.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(t.Context(), topic, solo.handle); err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := b.Publish(ctx, topic, &broker.Message{ID: id}); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
	publish("before")
	group.waitID(t, "before")
	solo.waitID(t, "before")

	for i := range 3 {
		p.WaitConns(t, 2)
		if n := p.Cut(); n != 2 {
			t.Fatalf("cut %d connections, want 2 (publisher and consumer)", n)
		}
		id := fmt.Sprintf("after-%d", i)
		publish(id) // waits for the publisher to reconnect
		group.waitID(t, id)
	}
	// The subscriber without group gets the messages published once its
	// subscription is restored.
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; ; n++ {
		publish("probe-" + strconv.Itoa(n))
		solo.mu.Lock()
		last := solo.msgs[len(solo.msgs)-1].ID
		solo.mu.Unlock()
		if strings.HasPrefix(last, "probe-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscriber without group not restored after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCloseWhileDisconnected(t *testing.T) {
	f := newFixture(t)
	p, url := newProxy(t, f.url)
	cfg := f.config()
	cfg.URL = url
	cfg.ReconnectMin = rabbitmq.Duration(time.Minute) // stays down
	cfg.ReconnectMax = rabbitmq.Duration(time.Minute)
	b := f.openRaw(t, cfg)
	p.WaitConns(t, 1)
	p.Cut()

	published := make(chan error, 1)
	go func() { published <- b.Publish(context.Background(), "t", &broker.Message{}) }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-published:
		if !isClosed(err) {
			t.Errorf("Publish waiting for the connection returned %v, want broker.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish waiting for the connection did not return after Close")
	}
}

// TestTopologyDeleted deletes the exchange and a group's queue under a
// running broker: publishing declares the exchange again, and the
// subscription, whose consumer the server cancelled, declares its queue
// and binding again.
func TestTopologyDeleted(t *testing.T) {
	f := newFixture(t)
	b := f.open(t, f.config())
	topic := unique("deleted.")
	r := new(recv)
	if _, err := b.Subscribe(t.Context(), topic, r.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	admin := f.channel(t)
	if err := admin.ExchangeDelete(f.exchange, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.QueueDelete(rabbitmq.QueueName(f.exchange, topic, "g"), false, false, false); err != nil {
		t.Fatal(err)
	}
	// Until the subscription is restored, messages have no queue to go to.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		id := "after-" + strconv.Itoa(i)
		if err := b.Publish(t.Context(), topic, &broker.Message{ID: id}); err != nil {
			t.Fatalf("Publish after the exchange was deleted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		r.mu.Lock()
		n := len(r.msgs)
		r.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscription not restored after 10s")
		}
	}
}
