package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// serverURL is the NATS server the tests use: MICRO_TEST_NATS, or the
// default address.
func serverURL() string {
	if u := os.Getenv("MICRO_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

const startHint = "start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- " +
	"-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log` " +
	"(for the 1 MiB messages of the conformance suite give it a config file with max_payload: 8MB), " +
	"or point MICRO_TEST_NATS at a NATS server with JetStream"

// rawConn connects to the test server with the plain client, failing t with
// advice when the server is not there. The connection is closed when t
// ends.
func rawConn(t testing.TB) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(serverURL(), natsgo.Timeout(3*time.Second), natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("NATS server not reachable at %s: %v; %s", serverURL(), err, startHint)
	}
	t.Cleanup(nc.Close)
	return nc
}

// rawJS returns the JetStream context of a raw connection, failing t when
// the server has no JetStream.
func rawJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(rawConn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("NATS server at %s has no JetStream: %v; %s", serverURL(), err, startHint)
	}
	return js
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

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
