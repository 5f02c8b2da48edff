package nats_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// The benchmarks compare the broker with the nats.go library doing the same
// work: 1 KiB bodies with a message ID header; in JetStream mode a
// synchronous publish that waits for the PubAck, and a pull consumer with
// explicit acknowledgements, the same prefetch and the same ack settings.
//
//	go test -run '^$' -bench . ./plugins/broker/nats/

const benchBodySize = 1024

func benchBody() []byte {
	b := make([]byte, benchBodySize)
	rand.Read(b)
	return b
}

func benchConfig(b *testing.B, mode string) micronats.Config {
	cfg := testConfig(b, mode)
	cfg.StreamStorage = "file"
	cfg.AckWait = micronats.Duration(micronats.DefaultAckWait)
	return cfg
}

func BenchmarkPublish(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, micronats.ModeJetStream))
		msg := &broker.Message{Body: body}
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for b.Loop() {
			if err := br.Publish(ctx, "bench", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b, micronats.ModeJetStream)
		js := rawStream(b, cfg)
		subj := cfg.SubjectPrefix + ".bench"
		ctx := context.Background()
		prefix := randHex(8) + "-"
		var seq int
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for b.Loop() {
			seq++
			m := &natsgo.Msg{Subject: subj, Header: natsgo.Header{"Nats-Msg-Id": {prefix + strconv.Itoa(seq)}}, Data: body}
			if _, err := js.PublishMsg(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPublishConsume(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, micronats.ModeJetStream))
		var got atomic.Int64
		done := make(chan struct{})
		var want int64
		if _, err := br.Subscribe(b.Context(), "bench", func(context.Context, *broker.Message) error {
			if got.Add(1) == want {
				close(done)
			}
			return nil
		}, broker.Queue("bench")); err != nil {
			b.Fatal(err)
		}
		msg := &broker.Message{Body: body}
		ctx := context.Background()
		want = int64(b.N)
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for range b.N {
			if err := br.Publish(ctx, "bench", msg); err != nil {
				b.Fatal(err)
			}
		}
		waitDone(b, done)
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
		var got atomic.Int64
		done := make(chan struct{})
		want := int64(b.N)
		cc, err := cons.Consume(func(m jetstream.Msg) {
			m.Ack()
			if got.Add(1) == want {
				close(done)
			}
		}, jetstream.PullMaxMessages(micronats.DefaultPrefetch))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
		ctx := context.Background()
		prefix := randHex(8) + "-"
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for i := range b.N {
			m := &natsgo.Msg{Subject: subj, Header: natsgo.Header{"Nats-Msg-Id": {prefix + strconv.Itoa(i)}}, Data: body}
			if _, err := js.PublishMsg(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		waitDone(b, done)
	})
}

func BenchmarkCorePublish(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, micronats.ModeCore))
		msg := &broker.Message{Body: body}
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for b.Loop() {
			if err := br.Publish(ctx, "bench", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b, micronats.ModeCore)
		nc := rawConn(b)
		subj := cfg.SubjectPrefix + ".bench"
		prefix := randHex(8) + "-"
		var seq int
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for b.Loop() {
			seq++
			m := &natsgo.Msg{Subject: subj, Header: natsgo.Header{"Nats-Msg-Id": {prefix + strconv.Itoa(seq)}}, Data: body}
			if err := nc.PublishMsg(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// In core mode nothing holds messages back: a publisher faster than its
// subscriber makes the server cut the connection as a slow consumer. Both
// sides of BenchmarkCorePublishConsume therefore keep at most coreWindow
// messages in flight.
const coreWindow = 4096

// window lets a publisher wait until the subscriber is at most coreWindow
// messages behind.
type window struct {
	got  atomic.Int64
	want int64
	more chan struct{} // signalled as messages arrive
	done chan struct{} // closed at the last one
}

func newWindow(n int) *window {
	return &window{want: int64(n), more: make(chan struct{}, 1), done: make(chan struct{})}
}

func (w *window) received() {
	n := w.got.Add(1)
	if n == w.want {
		close(w.done)
	}
	if n%256 == 0 {
		select {
		case w.more <- struct{}{}:
		default:
		}
	}
}

func (w *window) wait(b *testing.B, sent int) {
	for int64(sent)-w.got.Load() > coreWindow {
		select {
		case <-w.more:
		case <-time.After(time.Second):
			b.Fatalf("subscriber stuck at %d of %d sent", w.got.Load(), sent)
		}
	}
}

func BenchmarkCorePublishConsume(b *testing.B) {
	body := benchBody()
	b.Run("micro", func(b *testing.B) {
		br := newBroker(b, benchConfig(b, micronats.ModeCore))
		w := newWindow(b.N)
		if _, err := br.Subscribe(b.Context(), "bench", func(context.Context, *broker.Message) error {
			w.received()
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		msg := &broker.Message{Body: body}
		ctx := context.Background()
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for i := range b.N {
			w.wait(b, i)
			if err := br.Publish(ctx, "bench", msg); err != nil {
				b.Fatal(err)
			}
		}
		waitDone(b, w.done)
	})
	b.Run("raw", func(b *testing.B) {
		cfg := benchConfig(b, micronats.ModeCore)
		nc := rawConn(b)
		subj := cfg.SubjectPrefix + ".bench"
		w := newWindow(b.N)
		sub, err := nc.Subscribe(subj, func(*natsgo.Msg) { w.received() })
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		prefix := randHex(8) + "-"
		b.SetBytes(benchBodySize)
		b.ResetTimer()
		for i := range b.N {
			w.wait(b, i)
			m := &natsgo.Msg{Subject: subj, Header: natsgo.Header{"Nats-Msg-Id": {prefix + strconv.Itoa(i)}}, Data: body}
			if err := nc.PublishMsg(m); err != nil {
				b.Fatal(err)
			}
		}
		waitDone(b, w.done)
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

func waitDone(b *testing.B, done <-chan struct{}) {
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatal("not every message consumed within a minute")
	}
}
