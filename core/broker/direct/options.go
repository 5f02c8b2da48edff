package direct

import (
	"log/slog"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/transport"
)

// Defaults for the options.
const (
	// DefaultAddress is the listen address: a free port on the loopback
	// interface, reachable by the processes of this machine only.
	DefaultAddress = "127.0.0.1:0"
	// DefaultTTL is the time to live of a subscription's registration.
	DefaultTTL = 30 * time.Second
	// DefaultMaxAttempts is how many times a message is delivered to a
	// subscriber (or queue group) before it is given up on.
	DefaultMaxAttempts = 5
	// DefaultAckTimeout bounds one delivery attempt: how long a handler may
	// take before the attempt counts as failed.
	DefaultAckTimeout = 30 * time.Second
	// DefaultMaxInFlight is how many published messages may be on their way
	// at once before Publish waits.
	DefaultMaxInFlight = 256
)

// Option configures a Broker built by New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	address     string
	transport   transport.Transport
	ttl         time.Duration
	maxAttempts int
	ackTimeout  time.Duration
	maxInFlight int
	logger      *slog.Logger
	deadLetter  func(topic string, msg *broker.Message, err error)
}

// WithAddress sets the address the broker listens on for deliveries once it
// has a subscription (default DefaultAddress). The listener's actual address
// is what the broker registers, so listen on a specific host (":0" would
// register an unspecified address). Use a routable address, e.g.
// "10.0.0.5:0", for subscribers on other machines.
func WithAddress(addr string) Option {
	return optionFunc(func(c *config) {
		if addr == "" {
			addr = DefaultAddress
		}
		c.address = addr
	})
}

// WithTransport sets the transport used to listen for deliveries and to
// make them (default TCP). Every broker that talks to this one needs the
// same kind of transport.
func WithTransport(tr transport.Transport) Option {
	return optionFunc(func(c *config) { c.transport = tr })
}

// WithTTL sets the time to live of each subscription's registration
// (default DefaultTTL); the broker registers it again every third of the
// TTL. A subscriber that dies without unsubscribing stays in the registry,
// and publishers keep trying it, until its TTL passes. d <= 0 selects the
// default.
func WithTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { c.ttl = positive(d, DefaultTTL) })
}

// WithMaxAttempts sets how many delivery attempts a message gets at each
// subscriber or queue group before it is given up on (default
// DefaultMaxAttempts). n < 1 selects the default.
func WithMaxAttempts(n int) Option {
	return optionFunc(func(c *config) { c.maxAttempts = positive(n, DefaultMaxAttempts) })
}

// WithAckTimeout bounds one delivery attempt, handler included (default
// DefaultAckTimeout). When it passes, the handler's ctx is cancelled and the
// attempt counts as failed, so the message is delivered again: make it
// longer than the slowest handler. d <= 0 selects the default.
func WithAckTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.ackTimeout = positive(d, DefaultAckTimeout) })
}

// WithMaxInFlight sets how many messages published through this broker may
// be on their way at once (default DefaultMaxInFlight). Each holds a copy of
// its message. When that many are, Publish waits for one to finish.
// n < 1 selects the default.
func WithMaxInFlight(n int) Option {
	return optionFunc(func(c *config) { c.maxInFlight = positive(n, DefaultMaxInFlight) })
}

// WithLogger sets the logger for failures that no caller sees: refreshing a
// registration, a message given up on (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithDeadLetter sets a function that receives the messages that Publish
// accepted and the broker then gave up on, once for each subscriber or queue
// group that did not acknowledge one in WithMaxAttempts attempts (or whose
// delivery Close cut short), with the topic and an error that names the
// subscriber or group and wraps the last attempt's error. It runs on the
// delivering goroutine, and Close waits for it. The message is a copy f may
// keep. Without it such messages are logged and dropped.
func WithDeadLetter(f func(topic string, msg *broker.Message, err error)) Option {
	return optionFunc(func(c *config) { c.deadLetter = f })
}

// positive returns v, or def if v is zero or negative.
func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
