package rabbitmq_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

// The benchmarks compare the broker with amqp091-go used directly for the
// same work: 1 KiB persistent messages with a message ID and a content type,
// published to the exchange with publisher confirms (each Publish waits for
// its confirmation), into a quorum queue declared as the broker declares a
// queue group's, and consumed with manual acknowledgements and the same
// prefetch.
//
//	go test -run '^$' -bench . ./plugins/broker/rabbitmq

const (
	benchSize        = 1024
	benchParallelism = 16 // publishing goroutines per GOMAXPROCS in the parallel benchmarks
	benchGroup       = "bench"
)

var benchBody = make([]byte, benchSize)

// benchEnv is a fixture, a topic and the queue group queue bound to it.
type benchEnv struct {
	f     *fixture
	topic string
	queue string
}

func newBenchEnv(b *testing.B) *benchEnv {
	f := newFixture(b)
	e := &benchEnv{f: f, topic: unique("bench.")}
	e.queue = rabbitmq.QueueName(f.exchange, e.topic, benchGroup)
	f.addQueue(e.queue)
	// Declare the topology as the broker does, so that the raw runs find
	// it too.
	br := f.open(b, f.config())
	sub, err := br.Subscribe(b.Context(), e.topic, func(context.Context, *broker.Message) error { return nil }, broker.Queue(benchGroup))
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Unsubscribe(b.Context()); err != nil {
		b.Fatal(err)
	}
	return e
}

// purge empties the queue once b's run is over.
func (e *benchEnv) purge(b *testing.B) {
	b.Cleanup(func() {
		ch, err := e.f.admin.Channel()
		if err != nil {
			b.Errorf("purge: %v", err)
			return
		}
		defer ch.Close()
		if _, err := ch.QueuePurge(e.queue, false); err != nil {
			b.Errorf("purge: %v", err)
		}
	})
}

// micro returns a broker for a benchmark.
func (e *benchEnv) micro(b *testing.B) broker.Broker {
	e.purge(b)
	return e.f.open(b, e.f.config())
}

// rawConn returns a connection for a benchmark, closed when it ends.
func (e *benchEnv) rawConn(b *testing.B) *amqp.Connection {
	e.purge(b)
	conn, err := amqp.Dial(e.f.url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// rawPublisher is what a program using amqp091-go directly does to publish
// with confirms on one shared channel.
type rawPublisher struct {
	ch       *amqp.Channel
	exchange string
	topic    string
	seq      atomic.Uint64
}

func (e *benchEnv) rawPublisher(b *testing.B, conn *amqp.Connection) *rawPublisher {
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	return &rawPublisher{ch: ch, exchange: e.f.exchange, topic: e.topic}
}

func (p *rawPublisher) publish() error {
	dc, err := p.ch.PublishWithDeferredConfirm(p.exchange, p.topic, false, false, amqp.Publishing{
		MessageId:    "raw-" + strconv.FormatUint(p.seq.Add(1), 10),
		ContentType:  "application/octet-stream",
		DeliveryMode: amqp.Persistent,
		Timestamp:    time.Now(),
		Body:         benchBody,
	})
	if err != nil {
		return err
	}
	if !dc.Wait() {
		return amqp.ErrClosed
	}
	return nil
}

func microMessage() *broker.Message {
	return &broker.Message{Header: map[string]string{rabbitmq.ContentTypeHeader: "application/octet-stream"}, Body: benchBody}
}

// BenchmarkPublish publishes from one goroutine, each message confirmed
// before the next.
func BenchmarkPublish(b *testing.B) { benchPublish(b, 0) }

// BenchmarkPublishParallel publishes from many goroutines at once, each
// waiting for the confirmation of its message.
func BenchmarkPublishParallel(b *testing.B) { benchPublish(b, benchParallelism) }

// benchPublish compares Publish with the confirmed publish of amqp091-go,
// from parallelism goroutines per GOMAXPROCS (0: from one goroutine).
func benchPublish(b *testing.B, parallelism int) {
	e := newBenchEnv(b)
	b.Run("micro", func(b *testing.B) {
		brokertest.BenchPublishTo(b, e.micro(b), e.topic, microMessage(), parallelism)
	})
	b.Run("raw", func(b *testing.B) {
		brokertest.BenchPublish(b, benchSize, parallelism, e.rawPublisher(b, e.rawConn(b)).publish)
	})
}

// BenchmarkPublishConsume publishes from many goroutines and consumes with
// one queue group member, until every message is acknowledged.
func BenchmarkPublishConsume(b *testing.B) {
	e := newBenchEnv(b)
	b.Run("micro", func(b *testing.B) {
		brokertest.BenchPublishConsume(b, e.micro(b), e.topic, microMessage(), benchParallelism, broker.Queue(benchGroup))
	})
	b.Run("raw", func(b *testing.B) {
		conn := e.rawConn(b)
		p := e.rawPublisher(b, conn)
		ch, err := conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Qos(rabbitmq.DefaultPrefetch, 0, false); err != nil {
			b.Fatal(err)
		}
		deliveries, err := ch.Consume(e.queue, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		consumed := brokertest.NewBenchConsumed(b)
		consumer := make(chan struct{})
		go func() {
			defer close(consumer)
			for d := range deliveries {
				d.Ack(false)
				consumed.Add(1)
			}
		}()
		defer func() {
			ch.Close()
			<-consumer
		}()
		brokertest.BenchPublish(b, benchSize, benchParallelism, p.publish)
		consumed.Wait(b)
	})
}
