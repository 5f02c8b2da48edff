package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

// rabbitEnv runs on an exchange of its own, "microbench-<id>", with the
// broker's default settings otherwise (prefetch, dead-lettering).
type rabbitEnv struct {
	url      string
	exchange string
	log      *slog.Logger
	admin    *amqp.Connection

	mu     sync.Mutex
	queues map[string]struct{}
}

// NewRabbitMQ connects to the RabbitMQ server at url and declares the
// run's exchanges as the broker does.
func NewRabbitMQ(ctx context.Context, rawURL, id string, log *slog.Logger) (BrokerEnv, error) {
	conn, err := amqp.DialConfig(rawURL, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second), Properties: amqp.Table{"connection_name": "brokerbench admin"}})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: cannot reach the server at %s: %w", redactURL(rawURL), err)
	}
	e := &rabbitEnv{url: rawURL, exchange: "microbench-" + id, log: log, admin: conn, queues: map[string]struct{}{}}
	err = e.withChannel(func(ch *amqp.Channel) error {
		if err := ch.ExchangeDeclare(e.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return err
		}
		if err := ch.ExchangeDeclare(e.dlx(), amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return err
		}
		if _, err := ch.QueueDeclare(e.dlq(), true, false, false, false, nil); err != nil {
			return err
		}
		return ch.QueueBind(e.dlq(), "#", e.dlx(), false, nil)
	})
	if err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("rabbitmq: declare exchanges: %w", err)
	}
	return e, nil
}

func (e *rabbitEnv) Name() string { return "rabbitmq" }
func (e *rabbitEnv) dlx() string  { return e.exchange + ".dlx" }
func (e *rabbitEnv) dlq() string  { return e.exchange + ".dlq" }

func (e *rabbitEnv) config() rabbitmq.Config {
	return rabbitmq.Config{URL: e.url, Exchange: e.exchange, ConnectionName: "brokerbench"}
}

func (e *rabbitEnv) Settings() []byte { return settingsJSON(e.config()) }

func (e *rabbitEnv) Micro(ctx context.Context) (broker.Broker, error) {
	return rabbitmq.New(ctx, e.config(), rabbitmq.WithLogger(e.log))
}

// withChannel runs f on a channel of the admin connection.
func (e *rabbitEnv) withChannel(f func(*amqp.Channel) error) error {
	ch, err := e.admin.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	return f(ch)
}

// queueArgs are the arguments the broker declares a queue group's quorum
// queue with, under its default settings.
func (e *rabbitEnv) queueArgs() amqp.Table {
	return amqp.Table{
		"x-queue-type":           "quorum",
		"x-delivery-limit":       int64(rabbitmq.DefaultMaxDeliveries - 1),
		"x-dead-letter-exchange": e.dlx(),
	}
}

// declareQueue declares and binds the queue of group on topic on ch, as the
// broker does, and returns its name.
func (e *rabbitEnv) declareQueue(ch *amqp.Channel, topic, group string) (string, error) {
	name := rabbitmq.QueueName(e.exchange, topic, group)
	e.mu.Lock()
	e.queues[name] = struct{}{}
	e.mu.Unlock()
	if _, err := ch.QueueDeclare(name, true, false, false, false, e.queueArgs()); err != nil {
		return "", fmt.Errorf("declare queue %s: %w", name, err)
	}
	if err := ch.QueueBind(name, topic, e.exchange, false, nil); err != nil {
		return "", fmt.Errorf("bind queue %s: %w", name, err)
	}
	return name, nil
}

func (e *rabbitEnv) Prepare(ctx context.Context, topic, group string) error {
	return e.withChannel(func(ch *amqp.Channel) error {
		_, err := e.declareQueue(ch, topic, group)
		return err
	})
}

func (e *rabbitEnv) Drop(ctx context.Context, topic, group string) error {
	name := rabbitmq.QueueName(e.exchange, topic, group)
	e.mu.Lock()
	delete(e.queues, name)
	e.mu.Unlock()
	return e.withChannel(func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
}

func (e *rabbitEnv) Close(ctx context.Context) error {
	if e.admin.IsClosed() {
		return nil
	}
	e.mu.Lock()
	queues := make([]string, 0, len(e.queues)+1)
	for q := range e.queues {
		queues = append(queues, q)
	}
	e.mu.Unlock()
	queues = append(queues, e.dlq())
	var all []error
	for _, q := range queues {
		all = append(all, e.withChannel(func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		}))
	}
	for _, x := range []string{e.exchange, e.dlx()} {
		all = append(all, e.withChannel(func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) }))
	}
	all = append(all, e.admin.Close())
	if err := errs(all...); err != nil {
		return fmt.Errorf("rabbitmq: clean up: %w", err)
	}
	return nil
}

// Raw is what a program using amqp091-go directly does for the same work:
// like the broker, one connection to publish and one to consume; one
// channel in confirm mode shared by the publishers, each waiting for the
// confirmation of its message; persistent messages with an ID, a content
// type and a timestamp; a consumer with manual acknowledgements and the
// broker's prefetch, on the quorum queue the broker declares for a group.
func (e *rabbitEnv) Raw(ctx context.Context, body []byte) (*BrokerSystem, error) {
	dial := func(role string) (*amqp.Connection, error) {
		return amqp.DialConfig(e.url, amqp.Config{
			Heartbeat:  rabbitmq.DefaultHeartbeat,
			Dial:       amqp.DefaultDial(5 * time.Second),
			Properties: amqp.Table{"connection_name": "brokerbench raw " + role},
		})
	}
	pubConn, err := dial("publisher")
	if err != nil {
		return nil, err
	}
	subConn, err := dial("consumer")
	if err != nil {
		pubConn.Close()
		return nil, err
	}
	pub, err := pubConn.Channel()
	if err == nil {
		err = pub.Confirm(false)
	}
	if err != nil {
		pubConn.Close()
		subConn.Close()
		return nil, err
	}
	newID := rawIDs()
	return &BrokerSystem{
		Name: "raw",
		Publish: func(ctx context.Context, topic string) error {
			dc, err := pub.PublishWithDeferredConfirm(e.exchange, topic, false, false, amqp.Publishing{
				MessageId:    newID(),
				ContentType:  ContentType,
				DeliveryMode: amqp.Persistent,
				Timestamp:    time.Now(),
				Body:         body,
			})
			if err != nil {
				return err
			}
			acked, err := dc.WaitContext(ctx)
			if err != nil {
				return err
			}
			if !acked {
				return fmt.Errorf("rabbitmq: message rejected by the server (basic.nack)")
			}
			return nil
		},
		Subscribe: func(ctx context.Context, topic, group string, got func()) (func(context.Context) error, error) {
			ch, err := subConn.Channel()
			if err != nil {
				return nil, err
			}
			if err := ch.Qos(rabbitmq.DefaultPrefetch, 0, false); err != nil {
				ch.Close()
				return nil, err
			}
			name, err := e.declareQueue(ch, topic, group)
			if err != nil {
				ch.Close()
				return nil, err
			}
			deliveries, err := ch.Consume(name, "", false, false, false, false, nil)
			if err != nil {
				ch.Close()
				return nil, err
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for d := range deliveries {
					got()
					d.Ack(false)
				}
			}()
			return func(context.Context) error {
				err := ch.Close()
				<-done
				return err
			}, nil
		},
		Close: func(context.Context) error {
			return errs(pubConn.Close(), subConn.Close())
		},
	}, nil
}

// redactURL hides the password of a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
