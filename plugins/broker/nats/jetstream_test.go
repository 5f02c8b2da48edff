package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

func TestDeadLetter(t *testing.T) {
	tests := []struct {
		name       string
		deadLetter string
	}{
		{"to a topic", "dead.letters"},
		{"terminated", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, micronats.ModeJetStream)
			cfg.MaxDeliver = 3
			cfg.DeadLetterTopic = tt.deadLetter
			b := newBroker(t, cfg)

			// The server's advisory of a terminated message.
			nc := rawConn(t)
			advisories := make(chan *natsgo.Msg, 10)
			asub, err := nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+cfg.Stream+".>", advisories)
			if err != nil {
				t.Fatal(err)
			}
			defer asub.Unsubscribe()
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}

			var (
				mu       sync.Mutex
				attempts []string
			)
			brokertest.Subscribe(t, b, "orders", func(_ context.Context, msg *broker.Message) error {
				mu.Lock()
				attempts = append(attempts, msg.Header[broker.DeliveryHeader])
				mu.Unlock()
				return errors.New("card declined")
			}, broker.Queue("billing"))
			dead := new(collector)
			if tt.deadLetter != "" {
				brokertest.Subscribe(t, b, tt.deadLetter, dead.handler(0))
			}
			msg := &broker.Message{ID: "order-1", Header: map[string]string{"X-Order": "1"}, Body: []byte("pay")}
			if err := b.Publish(t.Context(), "orders", msg); err != nil {
				t.Fatal(err)
			}
			brokertest.WaitFor(t, "the message to be given up on", func() bool { return b.Stats().Terminated == 1 })
			time.Sleep(300 * time.Millisecond) // no more attempts
			mu.Lock()
			if got := strings.Join(attempts, ","); got != "1,2,3" {
				t.Errorf("delivery counts = %s, want 1,2,3", got)
			}
			mu.Unlock()

			select {
			case a := <-advisories:
				var adv struct {
					Type      string `json:"type"`
					Stream    string `json:"stream"`
					StreamSeq uint64 `json:"stream_seq"`
				}
				if err := json.Unmarshal(a.Data, &adv); err != nil || adv.Stream != cfg.Stream || adv.StreamSeq == 0 {
					t.Errorf("advisory %s = %+v, %v", a.Data, adv, err)
				}
			case <-time.After(brokertest.WaitTimeout):
				t.Error("no MSG_TERMINATED advisory")
			}

			if tt.deadLetter == "" {
				if s := b.Stats(); s.DeadLettered != 0 {
					t.Errorf("Stats = %+v, want nothing dead-lettered", s)
				}
				return
			}
			dead.wait(t, 1)
			got := dead.msgs[0]
			want := map[string]string{
				"X-Order":                            "1",
				micronats.DeadLetterTopicHeader:      "orders",
				micronats.DeadLetterIDHeader:         "order-1",
				micronats.DeadLetterReasonHeader:     "card declined",
				micronats.DeadLetterDeliveriesHeader: "3",
			}
			for k, v := range want {
				if got.Header[k] != v {
					t.Errorf("dead letter header %s = %q, want %q", k, got.Header[k], v)
				}
			}
			if got.ID != "order-1"+micronats.DeadLetterIDSuffix || string(got.Body) != "pay" {
				t.Errorf("dead letter = %q %q", got.ID, got.Body)
			}
			if s := b.Stats(); s.DeadLettered != 1 {
				t.Errorf("Stats = %+v, want DeadLettered 1", s)
			}
		})
	}
}

// A group member that leaves hands back the messages it had pulled, so the
// others get them at once rather than after AckWait.
func TestQueueGroupMemberLeaves(t *testing.T) {
	cfg := testConfig(t, micronats.ModeJetStream)
	cfg.AckWait = micronats.Duration(time.Minute)
	b := newBroker(t, cfg)
	slow := &collector{delay: 20 * time.Millisecond}
	stay := new(collector)
	leaving := brokertest.Subscribe(t, b, "jobs", slow.handler(0), broker.Queue("workers"))
	brokertest.Subscribe(t, b, "jobs", stay.handler(1), broker.Queue("workers"))
	const n = 200
	want := publishN(t, b, "jobs", "job-", n)
	brokertest.WaitFor(t, "the leaving member to start", func() bool { return slow.len() > 0 })
	start := time.Now()
	if err := leaving.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitFor(t, "every job handled", func() bool { return slow.len()+stay.len() >= n })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the jobs of the member that left took %v to reach the other", d)
	}
	got := slow.bodies()
	for body, c := range stay.bodies() {
		got[body] += c
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("%s not handled", w)
		}
	}
	t.Logf("left after %d jobs; the other member handled %d", slow.len(), stay.len())
}
