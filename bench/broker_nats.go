package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// natsEnv runs in JetStream mode on a stream of its own, "MICROBENCH_<id>"
// over the subjects "microbench_<id>.>", which it creates as the broker
// would (file storage, the broker's defaults otherwise) and deletes.
type natsEnv struct {
	url    string
	stream string
	prefix string
	log    *slog.Logger
	nc     *natsgo.Conn
	js     jetstream.JetStream
}

// NewNATS connects to the NATS server at url and creates the run's stream.
// The server must have JetStream enabled.
func NewNATS(ctx context.Context, url, id string, log *slog.Logger) (BrokerEnv, error) {
	nc, err := natsgo.Connect(url, natsgo.Name("brokerbench admin"), natsgo.Timeout(3*time.Second), natsgo.MaxReconnects(0))
	if err != nil {
		return nil, fmt.Errorf("nats: cannot reach the server at %s: %w", redactURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	e := &natsEnv{url: url, stream: "MICROBENCH_" + id, prefix: "microbench_" + id, log: log, nc: nc, js: js}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(cctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: the server at %s has no JetStream (start nats-server with -js): %w", redactURL(url), err)
	}
	if _, err := js.CreateStream(cctx, jetstream.StreamConfig{
		Name:        e.stream,
		Description: "micro broker messages (brokerbench)",
		Subjects:    []string{e.prefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      micronats.DefaultStreamMaxAge,
		MaxBytes:    -1,
		Storage:     jetstream.FileStorage,
		Replicas:    1,
		Duplicates:  micronats.DefaultDuplicateWindow,
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: create stream %s: %w", e.stream, err)
	}
	return e, nil
}

func (e *natsEnv) Name() string { return "nats" }

func (e *natsEnv) config() micronats.Config {
	return micronats.Config{
		Connection:    micronats.Connection{URL: e.url, Name: "brokerbench"},
		Mode:          micronats.ModeJetStream,
		Stream:        e.stream,
		SubjectPrefix: e.prefix,
		StreamStorage: "file",
	}
}

func (e *natsEnv) Settings() []byte { return settingsJSON(e.config()) }

func (e *natsEnv) Micro(ctx context.Context) (broker.Broker, error) {
	return micronats.New(ctx, e.config(), micronats.WithLogger(e.log))
}

// Prepare has nothing to do: the stream stores every message.
func (e *natsEnv) Prepare(ctx context.Context, topic, group string) error { return nil }

// Drop deletes the group's durable consumer, and the topic's messages.
func (e *natsEnv) Drop(ctx context.Context, topic, group string) error {
	err := e.js.DeleteConsumer(ctx, e.stream, micronats.DurableName(topic, group))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		err = nil
	}
	s, serr := e.js.Stream(ctx, e.stream)
	if serr == nil {
		serr = s.Purge(ctx, jetstream.WithPurgeSubject(e.prefix+"."+topic))
	}
	return errors.Join(err, serr)
}

func (e *natsEnv) Close(ctx context.Context) error {
	err := e.js.DeleteStream(ctx, e.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = nil
	}
	e.nc.Close()
	if err != nil {
		return fmt.Errorf("nats: clean up: %w", err)
	}
	return nil
}

// Raw is what a program using nats.go and its jetstream package directly
// does for the same work: one connection; a synchronous JetStream publish
// that waits for the PubAck, of a message with a Nats-Msg-Id and a
// Content-Type header; a durable pull consumer configured as the broker
// configures a queue group's (deliver new, explicit acks, the broker's ack
// wait, max deliver and max ack pending), consumed with the broker's
// prefetch, acknowledging each message.
func (e *natsEnv) Raw(ctx context.Context, body []byte) (*BrokerSystem, error) {
	nc, err := natsgo.Connect(e.url, natsgo.Name("brokerbench raw"))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	newID := rawIDs()
	return &BrokerSystem{
		Name: "raw",
		Publish: func(ctx context.Context, topic string) error {
			m := &natsgo.Msg{
				Subject: e.prefix + "." + topic,
				Header: natsgo.Header{
					"Nats-Msg-Id":  {newID()},
					"Content-Type": {ContentType},
				},
				Data: body,
			}
			_, err := js.PublishMsg(ctx, m)
			return err
		},
		Subscribe: func(ctx context.Context, topic, group string, got func()) (func(context.Context) error, error) {
			cons, err := js.CreateOrUpdateConsumer(ctx, e.stream, jetstream.ConsumerConfig{
				Durable:       micronats.DurableName(topic, group),
				FilterSubject: e.prefix + "." + topic,
				DeliverPolicy: jetstream.DeliverNewPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       micronats.DefaultAckWait,
				MaxDeliver:    micronats.DefaultMaxDeliver,
				MaxAckPending: micronats.DefaultMaxAckPending,
			})
			if err != nil {
				return nil, err
			}
			cc, err := cons.Consume(func(m jetstream.Msg) {
				_ = m.Headers().Get("Nats-Msg-Id") // what a handler gets: ID, header, body
				got()
				m.Ack()
			}, jetstream.PullMaxMessages(micronats.DefaultPrefetch))
			if err != nil {
				return nil, err
			}
			return func(context.Context) error {
				cc.Stop()
				<-cc.Closed()
				return nil
			}, nil
		},
		Close: func(context.Context) error {
			nc.Close()
			return nil
		},
	}, nil
}
