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

// The benchmarks compare the broker with the nats.go library doing the same
// work: 1 KiB bodies with a message ID header; in JetStream mode a
// synchronous publish that waits for the PubAck, and a pull consumer with
// explicit acknowledgements, the same prefetch and the same ack settings.
//
//	go test -run '^$' -bench . ./plugins/broker/nats/

const benchBodySize = 1024

func benchConfig(b *testing.B, mode string) micronats.Config {
	cfg := testConfig(b, mode)
	cfg.StreamStorage = "file"
	cfg.AckWait = micronats.Duration(micronats.DefaultAckWait)
	return cfg
}

func BenchmarkPublish(b *testing.B)     { benchPublish(b, micronats.ModeJetStream) }
func BenchmarkCorePublish(b *testing.B) { benchPublish(b, micronats.ModeCore) }

// benchPublish compares Publish in mode with the publish of the plain
// client it stands for.
func benchPublish(b *testing.B, mode string) {
	body := brokertest.BenchBody(benchBodySize)
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, mode))
		brokertest.BenchPublishTo(b, br, "bench", &broker.Message{Body: body}, 0)
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b, mode)
		var send func(*natsgo.Msg) error
		if mode == micronats.ModeJetStream {
			send = jsPublish(rawStream(b, cfg))
		} else {
			send = rawConn(b).PublishMsg
		}
		brokertest.BenchPublish(b, benchBodySize, 0, rawPublish(cfg, body, send))
	})
}

func BenchmarkPublishConsume(b *testing.B) {
	body := brokertest.BenchBody(benchBodySize)
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, micronats.ModeJetStream))
		brokertest.BenchPublishConsume(b, br, "bench", &broker.Message{Body: body}, 0, broker.Queue("bench"))
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b, micronats.ModeJetStream)
		js := rawStream(b, cfg)
		subj := cfg.SubjectPrefix + ".bench"
		cons, err := js.CreateOrUpdateConsumer(b.Context(), cfg.Stream, jetstream.ConsumerConfig{
			Durable:       "bench",
			FilterSubject: subj,
			DeliverPolicy: jetstream.DeliverNewPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       micronats.DefaultAckWait,
			MaxDeliver:    micronats.DefaultMaxDeliver,
			MaxAckPending: micronats.DefaultMaxAckPending,
		})
		if err != nil {
			b.Fatal(err)
		}
		consumed := brokertest.NewBenchConsumed(b)
		cc, err := cons.Consume(func(m jetstream.Msg) {
			m.Ack()
			consumed.Add(1)
		}, jetstream.PullMaxMessages(micronats.DefaultPrefetch))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
		brokertest.BenchPublish(b, benchBodySize, 0, rawPublish(cfg, body, jsPublish(js)))
		consumed.Wait(b)
	})
}

// rawPublish returns the publish of the raw benchmarks: send of a message
// to the subject of topic "bench" with body and a message ID header, as
// the broker publishes.
func rawPublish(cfg micronats.Config, body []byte, send func(*natsgo.Msg) error) func() error {
	subj := cfg.SubjectPrefix + ".bench"
	prefix := randHex(8) + "-"
	var seq int
	return func() error {
		seq++
		return send(&natsgo.Msg{Subject: subj, Header: natsgo.Header{"Nats-Msg-Id": {prefix + strconv.Itoa(seq)}}, Data: body})
	}
}

// jsPublish returns a send for rawPublish that publishes to JetStream and
// waits for the PubAck.
func jsPublish(js jetstream.JetStream) func(*natsgo.Msg) error {
	ctx := context.Background()
	return func(m *natsgo.Msg) error {
		_, err := js.PublishMsg(ctx, m)
		return err
	}
}

// In core mode nothing holds messages back: a publisher faster than its
// subscriber makes the server cut the connection as a slow consumer. Both
// sides of BenchmarkCorePublishConsume therefore keep at most coreWindow
// messages in flight.
const coreWindow = 4096

// window lets a publisher wait until the subscriber is at most coreWindow
// messages behind.
type window struct {
	consumed *brokertest.BenchConsumed
	sent     int64
	more     chan struct{} // signalled as messages arrive
}

func newWindow(b *testing.B) *window {
	return &window{consumed: brokertest.NewBenchConsumed(b), more: make(chan struct{}, 1)}
}

func (w *window) received() {
	if w.consumed.Add(1)%256 == 0 {
		select {
		case w.more <- struct{}{}:
		default:
		}
	}
}

// publish returns send, made to wait first until the subscriber is at most
// coreWindow messages behind.
func (w *window) publish(b *testing.B, send func() error) func() error {
	return func() error {
		for w.sent-w.consumed.Count() > coreWindow {
			select {
			case <-w.more:
			case <-time.After(time.Second):
				b.Fatalf("subscriber stuck at %d of %d sent", w.consumed.Count(), w.sent)
			}
		}
		w.sent++
		return send()
	}
}

func BenchmarkCorePublishConsume(b *testing.B) {
	body := brokertest.BenchBody(benchBodySize)
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, micronats.ModeCore))
		w := newWindow(b)
		if _, err := br.Subscribe(b.Context(), "bench", func(context.Context, *broker.Message) error {
			w.received()
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		msg := &broker.Message{Body: body}
		ctx := context.Background()
		brokertest.BenchPublish(b, benchBodySize, 0, w.publish(b, func() error { return br.Publish(ctx, "bench", msg) }))
		w.consumed.Wait(b)
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b, micronats.ModeCore)
		nc := rawConn(b)
		w := newWindow(b)
		sub, err := nc.Subscribe(cfg.SubjectPrefix+".bench", func(*natsgo.Msg) { w.received() })
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		brokertest.BenchPublish(b, benchBodySize, 0, w.publish(b, rawPublish(cfg, body, nc.PublishMsg)))
		w.consumed.Wait(b)
	})
}

// rawStream creates the stream of cfg as New would, with the plain client.
func rawStream(b *testing.B, cfg micronats.Config) jetstream.JetStream {
	js := rawJS(b)
	if _, err := js.CreateStream(b.Context(), jetstream.StreamConfig{
		Name:       cfg.Stream,
		Subjects:   []string{cfg.SubjectPrefix + ".>"},
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     time.Duration(cfg.StreamMaxAge),
		MaxBytes:   -1,
		Storage:    jetstream.FileStorage,
		Replicas:   1,
		Duplicates: micronats.DefaultDuplicateWindow,
	}); err != nil {
		b.Fatal(err)
	}
	return js
}
