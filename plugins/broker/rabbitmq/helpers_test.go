package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// serverURL returns the RabbitMQ the tests use: $MICRO_TEST_AMQP or the
// default of the development machine.
func serverURL() string { return testkit.AMQP.Address() }

// redacted returns url without its password, for messages.
func redacted(url string) string {
	uri, err := amqp.ParseURI(url)
	if err != nil {
		return "(unparsable URL)"
	}
	uri.Password = "xxx"
	return uri.String()
}

func unique(prefix string) string {
	var r [6]byte
	rand.Read(r[:])
	return prefix + hex.EncodeToString(r[:])
}

// fixture is a RabbitMQ exchange of a test's own, and everything declared
// under it, deleted when the test ends.
type fixture struct {
	url      string
	exchange string
	admin    *amqp.Connection

	mu     sync.Mutex
	queues map[string]bool
}

// newFixture connects to the server, failing t with instructions when it
// is not there, and registers the deletion of the exchange, the
// dead-letter exchange and queue, and the queues the test names with
// addQueue.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	url := serverURL()
	admin, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("RabbitMQ is not reachable at %s: %v\n"+
			"These tests need a RabbitMQ server: start it with `rabbitmq-server -detached` (or .ci/run), "+
			"or point MICRO_TEST_AMQP at one.", redacted(url), err)
	}
	f := &fixture{url: url, exchange: unique("microtest-"), admin: admin, queues: make(map[string]bool)}
	f.addQueue(f.exchange + ".dlq")
	t.Cleanup(func() {
		defer admin.Close()
		ch, err := admin.Channel()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer ch.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for q := range f.queues {
			if _, err := ch.QueueDelete(q, false, false, false); err != nil {
				t.Errorf("cleanup: delete queue %s: %v", q, err)
				return
			}
		}
		for _, x := range []string{f.exchange, f.exchange + ".dlx"} {
			if err := ch.ExchangeDelete(x, false, false); err != nil {
				t.Errorf("cleanup: delete exchange %s: %v", x, err)
				return
			}
		}
	})
	return f
}

// addQueue registers queue for deletion.
func (f *fixture) addQueue(queue string) {
	f.mu.Lock()
	f.queues[queue] = true
	f.mu.Unlock()
}

// channel returns a channel on the fixture's connection, closed when t
// ends.
func (f *fixture) channel(t testing.TB) *amqp.Channel {
	t.Helper()
	ch, err := f.admin.Channel()
	if err != nil {
		t.Fatalf("open channel: %v", err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

// config returns a Config for the fixture's exchange with a quick
// reconnection.
func (f *fixture) config() rabbitmq.Config {
	return rabbitmq.Config{
		URL:            f.url,
		Exchange:       f.exchange,
		ConnectionName: "micro-test",
		ReconnectMin:   rabbitmq.Duration(20 * time.Millisecond),
		ReconnectMax:   rabbitmq.Duration(500 * time.Millisecond),
	}
}

// open returns a broker with cfg, closed when t ends. Its queue groups'
// queues are deleted when the fixture's test ends.
func (f *fixture) open(t testing.TB, cfg rabbitmq.Config) broker.Broker {
	t.Helper()
	b := f.openRaw(t, cfg)
	brokertest.CloseAtEnd(t, b)
	return b
}

// openRaw returns a broker with cfg that the caller closes. Its queue
// groups' queues are deleted when the fixture's test ends.
func (f *fixture) openRaw(t testing.TB, cfg rabbitmq.Config) broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := rabbitmq.New(ctx, cfg, rabbitmq.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f.track(b, cfg.Exchange)
}

// track returns b, on exchange, recording the queues of the groups
// subscribed through it for deletion.
func (f *fixture) track(b broker.Broker, exchange string) broker.Broker {
	return &tracked{Broker: b, f: f, exchange: exchange}
}

// tracked records the queues of the groups subscribed through it.
type tracked struct {
	broker.Broker
	f        *fixture
	exchange string
}

func (b *tracked) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if o := broker.NewSubscribeOptions(opts...); o.Queue != "" {
		b.f.addQueue(rabbitmq.QueueName(b.exchange, topic, o.Queue))
	}
	return b.Broker.Subscribe(ctx, topic, h, opts...)
}

// PublishBatch passes the batch on, for the conformance suite to test the
// broker's own PublishBatch.
func (b *tracked) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	if bp, ok := b.Broker.(broker.BatchPublisher); ok {
		bp.PublishBatch(ctx, pubs, errs)
		return
	}
	broker.PublishEach(ctx, b.Broker, pubs, errs)
}

// testLogger logs through t, at warning level and above.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newProxy starts a proxy to the server of url, stopped when t ends, and
// returns it with the URL to connect through it.
func newProxy(t testing.TB, url string) (*plugintest.Proxy, string) {
	t.Helper()
	uri, err := amqp.ParseURI(url)
	if err != nil {
		t.Fatal(err)
	}
	p := plugintest.NewProxy(t, net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)))
	uri.Host = "127.0.0.1"
	uri.Port = p.Port()
	return p, uri.String()
}

// isClosed reports whether err says the broker is closed.
func isClosed(err error) bool { return errors.Is(err, broker.ErrClosed) }
