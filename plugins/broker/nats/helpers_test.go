package nats_test

import (
	"context"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	micronats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// serverURL is the NATS server the tests use: MICRO_TEST_NATS, or the
// default address.
func serverURL() string { return plugintest.NATSURL() }

// rawConn connects to the test server with the plain client, failing t with
// advice when the server is not there. The connection is closed when t
// ends.
func rawConn(t testing.TB) *natsgo.Conn { return plugintest.NATSConn(t) }

// rawJS returns the JetStream context of a raw connection, failing t when
// the server has no JetStream.
func rawJS(t testing.TB) jetstream.JetStream { return plugintest.NATSJetStream(t) }

func randHex(n int) string { return plugintest.RandomHex(n) }

// testConfig returns a config with a stream and subject prefix of its own,
// and deletes the stream when t ends.
func testConfig(t testing.TB, mode string) micronats.Config {
	t.Helper()
	id := randHex(6)
	cfg := micronats.Config{
		Connection:    micronats.Connection{URL: serverURL()},
		Mode:          mode,
		SubjectPrefix: "microtest_" + id,
		Stream:        "MICROTEST_" + strings.ToUpper(id),
		AckWait:       micronats.Duration(5 * time.Second),
		NakDelay:      micronats.Duration(50 * time.Millisecond),
		StreamMaxAge:  micronats.Duration(time.Hour),
		StreamStorage: "memory",
	}
	if mode == micronats.ModeJetStream {
		js := rawJS(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := js.DeleteStream(ctx, cfg.Stream); err != nil && err != jetstream.ErrStreamNotFound {
				t.Errorf("delete stream %s: %v", cfg.Stream, err)
			}
		})
	} else {
		rawConn(t)
	}
	return cfg
}

// newBroker returns a broker of cfg, closed when t ends.
func newBroker(t testing.TB, cfg micronats.Config, opts ...micronats.Option) *micronats.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := micronats.New(ctx, cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}
