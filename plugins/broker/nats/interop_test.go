package nats_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// The interop tests talk to a micro broker with nothing but the nats.go
// library, following the wire format of the README: subject
// "<prefix>.<topic>", ID in Nats-Msg-Id, headers as NATS headers, body as
// data.

func TestInteropRawPublisher(t *testing.T) {
	for _, mode := range []string{micronats.ModeJetStream, micronats.ModeCore} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t, mode)
			b := newBroker(t, cfg)
			c := new(collector)
			brokertest.Subscribe(t, b, "greetings", c.handler(0))

			nc := rawConn(t)
			m := natsgo.NewMsg(cfg.SubjectPrefix + ".greetings")
			m.Header.Set("Nats-Msg-Id", "raw-1")
			m.Header["Content-Type"] = []string{"text/plain"}
			m.Data = []byte("hello from nats.go")
			if mode == micronats.ModeJetStream {
				js, err := jetstream.New(nc)
				if err != nil {
					t.Fatal(err)
				}
				ack, err := js.PublishMsg(t.Context(), m)
				if err != nil {
					t.Fatal(err)
				}
				if ack.Stream != cfg.Stream {
					t.Errorf("stored in stream %q, want %q", ack.Stream, cfg.Stream)
				}
				// Without a Nats-Msg-Id the ID is "<stream>:<sequence>".
				if _, err := js.Publish(t.Context(), cfg.SubjectPrefix+".greetings", []byte("no id")); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := nc.PublishMsg(m); err != nil {
					t.Fatal(err)
				}
				if err := nc.Publish(cfg.SubjectPrefix+".greetings", []byte("no id")); err != nil {
					t.Fatal(err)
				}
			}
			c.wait(t, 2)
			byBody := map[string]*broker.Message{}
			for _, msg := range c.msgs {
				byBody[string(msg.Body)] = msg
			}
			got := byBody["hello from nats.go"]
			if got == nil || got.ID != "raw-1" || got.Header["Content-Type"] != "text/plain" || got.Header[broker.DeliveryHeader] != "1" {
				t.Fatalf("micro received %+v", got)
			}
			if _, ok := got.Header["Nats-Msg-Id"]; ok {
				t.Error("Nats-Msg-Id left in Message.Header")
			}
			noID := byBody["no id"]
			switch {
			case noID == nil || noID.ID == "":
				t.Errorf("message without Nats-Msg-Id: %+v", noID)
			case mode == micronats.ModeJetStream && noID.ID != cfg.Stream+":2":
				t.Errorf("message without Nats-Msg-Id has ID %q, want %s:2", noID.ID, cfg.Stream)
			}
		})
	}
}

func TestInteropRawSubscriber(t *testing.T) {
	for _, mode := range []string{micronats.ModeJetStream, micronats.ModeCore} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t, mode)
			b := newBroker(t, cfg)
			nc := rawConn(t)
			subj := cfg.SubjectPrefix + ".greetings"

			got := make(chan *natsgo.Msg, 1)
			if mode == micronats.ModeJetStream {
				js, err := jetstream.New(nc)
				if err != nil {
					t.Fatal(err)
				}
				cons, err := js.OrderedConsumer(t.Context(), cfg.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}})
				if err != nil {
					t.Fatal(err)
				}
				cc, err := cons.Consume(func(m jetstream.Msg) {
					select {
					case got <- &natsgo.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}:
					default:
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				defer cc.Stop()
			} else {
				sub, err := nc.Subscribe(subj, func(m *natsgo.Msg) {
					select {
					case got <- m:
					default:
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Unsubscribe()
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
			}

			msg := &broker.Message{ID: "micro-1", Header: map[string]string{"Content-Type": "text/plain", "X-Trace": "abc"}, Body: []byte("hello from micro")}
			if err := b.Publish(t.Context(), "greetings", msg); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				if m.Subject != subj || string(m.Data) != "hello from micro" ||
					m.Header.Get("Nats-Msg-Id") != "micro-1" ||
					m.Header.Get("Content-Type") != "text/plain" || m.Header["X-Trace"][0] != "abc" {
					t.Errorf("nats.go received subject %q, header %v, data %q", m.Subject, m.Header, m.Data)
				}
			case <-time.After(brokertest.WaitTimeout):
				t.Fatal("nats.go subscriber received nothing")
			}
		})
	}
}

// A raw JetStream consumer in the durable queue group of micro subscribers
// shares their messages.
func TestInteropQueueGroupDurable(t *testing.T) {
	cfg := testConfig(t, micronats.ModeJetStream)
	b := newBroker(t, cfg)
	c := new(collector)
	brokertest.Subscribe(t, b, "jobs", c.handler(0), broker.Queue("workers"))

	js := rawJS(t)
	name := micronats.DurableName("jobs", "workers")
	cons, err := js.Consumer(t.Context(), cfg.Stream, name)
	if err != nil {
		t.Fatalf("durable %s of the README not found: %v", name, err)
	}
	if f := cons.CachedInfo().Config.FilterSubject; f != cfg.SubjectPrefix+".jobs" {
		t.Errorf("durable filter = %q", f)
	}
	for i := range 20 {
		if err := b.Publish(t.Context(), "jobs", &broker.Message{Body: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	// The raw member takes a few, acking them; micro gets the rest.
	raw := 0
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
		raw++
	}
	brokertest.WaitFor(t, "all 20 jobs handled once", func() bool { return c.len()+raw == 20 })
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	<-ctx.Done()
	if c.len()+raw != 20 {
		t.Errorf("micro %d + raw %d != 20", c.len(), raw)
	}
}
