package plugintest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/testkit"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
)

// RandomHex returns n random bytes in hexadecimal, for names of their own.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NATSURL is the NATS server the tests use: $MICRO_TEST_NATS, or the
// default address.
func NATSURL() string { return testkit.NATS.Address() }

// NATSStartHint says how to start the NATS server the tests need.
const NATSStartHint = "start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- " +
	"-c plugins/broker/nats/testdata/nats-server.conf -l /var/log/nats-server.log` " +
	"(JetStream, and max_payload raised for the 1 MiB messages of the broker conformance suite), " +
	"or point MICRO_TEST_NATS at a NATS server with JetStream"

// NATSConn connects to the test server with the plain client, failing t
// with advice when the server is not there. The connection reconnects
// until t ends, when it is closed.
func NATSConn(t testing.TB) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(NATSURL(), natsgo.Timeout(3*time.Second), natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("NATS server not reachable at %s: %v; %s", NATSURL(), err, NATSStartHint)
	}
	t.Cleanup(nc.Close)
	return nc
}

// NATSJetStream returns the JetStream context of a NATSConn, failing t
// when the server has no JetStream.
func NATSJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(NATSConn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("NATS server at %s has no JetStream: %v; %s", NATSURL(), err, NATSStartHint)
	}
	return js
}

// NATSBucket returns a key-value bucket name of its own, starting with
// prefix, and deletes the bucket when t ends.
func NATSBucket(t testing.TB, prefix string) string {
	t.Helper()
	js := NATSJetStream(t)
	name := prefix + RandomHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("delete bucket %s: %v", name, err)
		}
	})
	return name
}

// DeleteNATSBucket deletes the bucket name of the test server, if it can.
func DeleteNATSBucket(name string) {
	OnNATS(func(ctx context.Context, js jetstream.JetStream) { _ = js.DeleteKeyValue(ctx, name) })
}

// OnNATS calls f with the JetStream of the test server and a context that
// ends after 5 seconds, for a clean-up after a test binary's tests (when
// there is no t to fail); it does nothing if the server is not there.
func OnNATS(f func(ctx context.Context, js jetstream.JetStream)) {
	nc, err := natsgo.Connect(NATSURL())
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
	f(ctx, js)
}

// RedisURL is the Redis server the tests use: $MICRO_TEST_REDIS, or the
// default address.
func RedisURL() string { return testkit.Redis.Address() }

// Redis returns a client of the test server, closed when t ends, failing t
// with advice when the server does not answer.
func Redis(t testing.TB) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("MICRO_TEST_REDIS=%q: %v", RedisURL(), err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is not reachable at %s (set MICRO_TEST_REDIS to another URL, or start it: "+
			"redis-server --daemonize yes --port 6379, or .ci/run): %v", RedisURL(), err)
	}
	return c
}

// RedisPrefix returns a key prefix of its own that starts with start, and
// deletes every key under it when t ends. pattern turns the prefix into the
// SCAN pattern of its keys, for a prefix with glob characters in it; nil
// takes it as it is.
func RedisPrefix(t testing.TB, start string, pattern func(string) string) string {
	t.Helper()
	prefix := start + RandomHex(6) + ":"
	match := prefix
	if pattern != nil {
		match = pattern(prefix)
	}
	c := Redis(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, match+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup: SCAN %s*: %v", match, err)
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := c.Del(ctx, keys[:n]...).Err(); err != nil {
				t.Errorf("cleanup: DEL: %v", err)
			}
			keys = keys[n:]
		}
	})
	return prefix
}
