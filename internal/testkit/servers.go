package testkit

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Server is a server on loopback that tests need: its URL comes from the
// environment variable Env, else Default.
type Server struct {
	Name, Env, Default string
	// Start says how to start one.
	Start string
}

// The servers of the tests, as .ci/run starts them.
var (
	Redis = Server{"Redis", "MICRO_TEST_REDIS", "redis://127.0.0.1:6379/0", "start it with `redis-server --daemonize yes` (Debian: apt-get install redis-server)"}
	AMQP  = Server{"RabbitMQ", "MICRO_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/", "start it with `rabbitmq-server -detached` (Debian: apt-get install rabbitmq-server)"}
	NATS  = Server{"NATS", "MICRO_TEST_NATS", "nats://127.0.0.1:4222", "start it with JetStream: `nats-server -js -c plugins/broker/nats/testdata/nats-server.conf &`"}
)

// Address returns the server's URL, $Env or Default, without checking it.
func (s Server) Address() string {
	if raw := os.Getenv(s.Env); raw != "" {
		return raw
	}
	return s.Default
}

// URL returns the server's URL, and fails tb, saying how to start the
// server or where to point the tests, when nothing listens there.
func (s Server) URL(tb testing.TB) string {
	tb.Helper()
	raw := s.Address()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("$%s=%q is not a URL: %v", s.Env, raw, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		tb.Fatalf("%s is not reachable at %s (%v): %s, or set $%s to the URL of one", s.Name, u.Host, err, s.Start, s.Env)
	}
	c.Close()
	return raw
}
