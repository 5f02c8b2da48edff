package server

import (
	"log/slog"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/transport"
)

// Option configures a Server. Options are created with the WithX functions.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	name, version, id  string
	address, advertise string
	metadata           map[string]string
	registry           registry.Registry
	broker             broker.Broker
	transport          transport.Transport
	ttl, interval      time.Duration
	grace              time.Duration
	middleware         []Middleware
	subscriberMW       []SubscriberMiddleware
	logger             *slog.Logger
	maxFrame           int
	transportOpts      []transport.ServerOption
}

// WithName sets the service name the server registers under. Required.
func WithName(name string) Option { return optionFunc(func(o *options) { o.name = name }) }

// WithVersion sets the service version (default "latest").
func WithVersion(v string) Option { return optionFunc(func(o *options) { o.version = v }) }

// WithID sets the node ID (default: name plus a random suffix).
func WithID(id string) Option { return optionFunc(func(o *options) { o.id = id }) }

// WithAddress sets the listen address (default "127.0.0.1:0", a free
// loopback port). Use ":8080" or "0.0.0.0:0" to accept remote clients.
func WithAddress(addr string) Option { return optionFunc(func(o *options) { o.address = addr }) }

// WithAdvertise sets the address published in the registry, when it differs
// from the listen address (behind NAT, in containers).
func WithAdvertise(addr string) Option { return optionFunc(func(o *options) { o.advertise = addr }) }

// WithMetadata sets metadata published on the node.
func WithMetadata(md map[string]string) Option {
	return optionFunc(func(o *options) { o.metadata = md })
}

// WithRegistry sets the registry the server announces itself in. Without
// one, the server is reachable only by address.
func WithRegistry(r registry.Registry) Option { return optionFunc(func(o *options) { o.registry = r }) }

// WithBroker sets the broker subscribers listen on. Required when the server
// has subscribers.
func WithBroker(b broker.Broker) Option { return optionFunc(func(o *options) { o.broker = b }) }

// WithTransport sets the transport (default TCP).
func WithTransport(t transport.Transport) Option {
	return optionFunc(func(o *options) { o.transport = t })
}

// WithTTL sets the registration time to live (default 30s).
func WithTTL(d time.Duration) Option { return optionFunc(func(o *options) { o.ttl = d }) }

// WithRegisterInterval sets how often the server re-registers (default a
// third of the TTL).
func WithRegisterInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.interval = d })
}

// WithGracePeriod bounds how long Stop waits for requests in flight
// (default 10s).
func WithGracePeriod(d time.Duration) Option { return optionFunc(func(o *options) { o.grace = d }) }

// WithMiddleware adds handler middleware; the first one given is the
// outermost.
func WithMiddleware(mw ...Middleware) Option {
	return optionFunc(func(o *options) { o.middleware = append(o.middleware, mw...) })
}

// WithSubscriberMiddleware adds subscriber middleware; the first one given
// is the outermost.
func WithSubscriberMiddleware(mw ...SubscriberMiddleware) Option {
	return optionFunc(func(o *options) { o.subscriberMW = append(o.subscriberMW, mw...) })
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// WithMaxFrameSize sets the largest request or response accepted, in bytes
// (default 4 MiB).
func WithMaxFrameSize(n int) Option { return optionFunc(func(o *options) { o.maxFrame = n }) }

// WithTransportOptions passes options to the transport server: its limits
// against slow peers (transport.WithFrameTimeout, WithIdleTimeout,
// WithMaxConns, WithConnBufferLimit, WithBufferLimit) and the streams'
// window (transport.WithServerStreamWindow).
func WithTransportOptions(opts ...transport.ServerOption) Option {
	return optionFunc(func(o *options) { o.transportOpts = append(o.transportOpts, opts...) })
}

// SubscribeOption configures Subscribe.
type SubscribeOption interface{ applySub(*subOptions) }

type subOptionFunc func(*subOptions)

func (f subOptionFunc) applySub(o *subOptions) { f(o) }

type subOptions struct {
	queue   string
	noQueue bool
}

// Queue sets the subscriber's queue group. By default a server's
// subscribers join the queue group named after the service, so that each
// event is handled once per service, not once per instance.
func Queue(name string) SubscribeOption {
	return subOptionFunc(func(o *subOptions) { o.queue = name })
}

// Broadcast makes every instance of the service receive every event: the
// subscriber joins no queue group.
func Broadcast() SubscribeOption {
	return subOptionFunc(func(o *subOptions) { o.noQueue = true })
}
