package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

func TestMain(m *testing.M) {
	code := m.Run()
	deleteBucket(exampleBucket)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const exampleBucket = "micro_store_example"

// serverURL is the NATS server the tests use: MICRO_TEST_NATS, or the
// default address.
func serverURL() string {
	if u := os.Getenv("MICRO_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

const startHint = "start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- " +
	"-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log`, " +
	"or point MICRO_TEST_NATS at a NATS server with JetStream"

// rawJS connects with the plain client, failing t with advice when the
// server or its JetStream is not there.
func rawJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(serverURL(), natsgo.Timeout(3*time.Second))
	if err != nil {
		t.Fatalf("NATS server not reachable at %s: %v; %s", serverURL(), err, startHint)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
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

func deleteBucket(name string) {
	nc, err := natsgo.Connect(serverURL())
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteKeyValue(ctx, name)
}

// testBucket returns a bucket name of its own, deleted when t ends.
func testBucket(t testing.TB) string {
	t.Helper()
	js := rawJS(t)
	var b [6]byte
	rand.Read(b[:])
	name := "microtest_store_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("delete bucket %s: %v", name, err)
		}
	})
	return name
}

func newStore(t testing.TB, cfg micronats.Config) *micronats.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := micronats.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { suite(t).InProcess(t) }
