// Package micro builds a service in one call: an RPC server announced in a
// registry, broker subscribers, a client for calling other services and
// publishing events, and a Run loop that shuts down gracefully on SIGINT or
// SIGTERM.
//
// With no options, a service uses the embedded defaults, which need no server
// installed: the local registry (files in a directory shared by every process
// of the user on this machine) and the direct broker (events delivered over
// micro's own transport to subscribers found in that registry).
//
// Which registry, broker and store a service uses is a deploy-time choice,
// made without changing code: New reads it from the environment
// (MICRO_REGISTRY, MICRO_BROKER, MICRO_STORE, their _ADDRESS and _SETTINGS,
// and the config file of MICRO_CONFIG; see resolve.FromEnv) and resolves
// each name to an implementation compiled into the service, else to an
// installed plugin, which runs in a process of its own; see package
// resolve. So the smallest service,
//
//	svc, err := micro.New("greeter")
//
// runs on RabbitMQ with MICRO_BROKER=rabbitmq
// MICRO_BROKER_ADDRESS=amqp://rabbit:5672 once `micro-new install
// broker/rabbitmq` has installed the plugin. Command-line flags
// (--broker, --broker-address, ...) are one line more, before flag.Parse:
//
//	flags := resolve.RegisterFlags(flag.CommandLine)
//	flag.Parse()
//	svc, err := micro.New("greeter", micro.WithFlags(flags))
//
// WithoutEnv turns the environment off, and WithConfig gives the whole
// configuration in code.
package micro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/server"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/resolve"
)

// Option configures a Service.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	version    string
	address    string
	registry   registry.Registry
	broker     broker.Broker
	store      store.Store
	logger     *slog.Logger
	serverOpts []server.Option
	clientOpts []client.Option
	stopGrace  time.Duration
	config     *resolve.Config
	flags      *resolve.Flags
	noEnv      bool
	getenv     func(string) string
	resolver   *resolve.Resolver
}

// WithVersion sets the service version (default "latest").
func WithVersion(v string) Option { return optionFunc(func(o *options) { o.version = v }) }

// WithAddress sets the server's listen address (default "127.0.0.1:0").
func WithAddress(addr string) Option { return optionFunc(func(o *options) { o.address = addr }) }

// WithRegistry sets the registry (default: the local registry).
func WithRegistry(r registry.Registry) Option { return optionFunc(func(o *options) { o.registry = r }) }

// WithBroker sets the broker (default: the direct broker on the registry).
func WithBroker(b broker.Broker) Option { return optionFunc(func(o *options) { o.broker = b }) }

// WithStore sets the key-value store (default: in memory).
func WithStore(s store.Store) Option { return optionFunc(func(o *options) { o.store = s }) }

// WithConfig makes New resolve the registry, broker and store that cfg
// names, and nothing else: the environment and WithFlags are not read.
// Each name resolves to the implementation compiled into the service under
// that name, else to the installed plugin of that name, else to an error
// that says how to install it (see package resolve). Those given with
// WithRegistry, WithBroker or WithStore are used as given. For a name cfg
// leaves empty, the default is resolve.DefaultRegistry ("local"),
// resolve.DefaultBroker ("direct") or resolve.DefaultStore ("memory").
func WithConfig(cfg resolve.Config) Option {
	return optionFunc(func(o *options) { o.config = &cfg })
}

// WithFlags makes New take the configuration from command-line flags
// registered with resolve.RegisterFlags, once parsed: flags.Config, the
// flags given over the environment over the config file. Without it (and
// without WithConfig), New reads the environment alone.
func WithFlags(flags *resolve.Flags) Option { return optionFunc(func(o *options) { o.flags = flags }) }

// WithoutEnv makes New ignore the MICRO_* environment variables (and
// MICRO_CONFIG): without WithConfig or WithFlags the service runs on the
// embedded defaults, or on what WithRegistry, WithBroker and WithStore
// give, whatever the environment says. With WithFlags, only the flags
// count.
func WithoutEnv() Option { return optionFunc(func(o *options) { o.noEnv = true }) }

// WithResolver sets the resolver of WithConfig (default: resolve.New with
// the service's logger); give one with a resolve.Factories of your own to
// compile implementations in.
func WithResolver(r *resolve.Resolver) Option { return optionFunc(func(o *options) { o.resolver = r }) }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// WithServerOptions passes options to the server.
func WithServerOptions(opts ...server.Option) Option {
	return optionFunc(func(o *options) { o.serverOpts = append(o.serverOpts, opts...) })
}

// WithClientOptions passes options to the client.
func WithClientOptions(opts ...client.Option) Option {
	return optionFunc(func(o *options) { o.clientOpts = append(o.clientOpts, opts...) })
}

// WithGracePeriod bounds how long Run waits for requests in flight when it
// stops (default 10s).
func WithGracePeriod(d time.Duration) Option { return optionFunc(func(o *options) { o.stopGrace = d }) }

// Service is a named service with its server, client, registry, broker and
// store.
type Service struct {
	name  string
	opts  options
	srv   *server.Server
	cli   *client.Client
	comps *resolve.Components

	mu      sync.Mutex
	stopped bool          // Stop was called
	done    chan struct{} // closed when the first Stop has finished
	stopErr error         // the first Stop's result
}

// New builds the service called name. Components not given as options are
// assembled by resolve.Resolver.Open from the configuration: WithConfig's,
// else WithFlags', else the environment's (unless WithoutEnv), by default
// the embedded defaults. New creates them, plugins included, and Stop
// closes them. New fails if one cannot be made, after closing those it
// made.
func New(name string, opts ...Option) (*Service, error) {
	if name == "" {
		return nil, errors.New("micro: service name is empty")
	}
	o := options{version: "latest", stopGrace: 10 * time.Second, getenv: os.Getenv}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	cfg, err := o.configuration()
	if err != nil {
		return nil, fmt.Errorf("micro: configuration: %w", err)
	}
	r := o.resolver
	if r == nil {
		r = resolve.New(resolve.WithLogger(o.logger))
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	comps, err := r.Open(ctx, cfg, resolve.UseRegistry(o.registry), resolve.UseBroker(o.broker), resolve.UseStore(o.store))
	if err != nil {
		return nil, fmt.Errorf("micro: %w", err)
	}
	s := &Service{name: name, opts: o, comps: comps, done: make(chan struct{})}
	sopts := []server.Option{
		server.WithName(name),
		server.WithVersion(o.version),
		server.WithRegistry(comps.Registry),
		server.WithBroker(comps.Broker),
		server.WithLogger(o.logger),
		server.WithGracePeriod(o.stopGrace),
	}
	if o.address != "" {
		sopts = append(sopts, server.WithAddress(o.address))
	}
	s.srv = server.New(append(sopts, o.serverOpts...)...)
	s.cli = client.New(append([]client.Option{
		client.WithRegistry(comps.Registry),
		client.WithBroker(comps.Broker),
	}, o.clientOpts...)...)
	return s, nil
}

// resolveTimeout bounds the making of the components, the start of their
// plugins included.
const resolveTimeout = time.Minute

// configuration returns the configuration the options choose.
func (o *options) configuration() (resolve.Config, error) {
	getenv := o.getenv
	if o.noEnv {
		getenv = func(string) string { return "" }
	}
	switch {
	case o.config != nil:
		return *o.config, nil
	case o.flags != nil:
		return o.flags.Config(getenv)
	}
	return resolve.FromEnv(getenv)
}

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Handle registers handler methods; see server.Server.Handle.
func (s *Service) Handle(h any, opts ...server.HandleOption) error { return s.srv.Handle(h, opts...) }

// Subscribe registers an event subscriber; see server.Server.Subscribe.
func (s *Service) Subscribe(topic string, fn any, opts ...server.SubscribeOption) error {
	return s.srv.Subscribe(topic, fn, opts...)
}

// Client returns the service's client, for calling other services and
// publishing events.
func (s *Service) Client() *client.Client { return s.cli }

// Server returns the service's server.
func (s *Service) Server() *server.Server { return s.srv }

// Registry returns the registry in use.
func (s *Service) Registry() registry.Registry { return s.comps.Registry }

// Broker returns the broker in use.
func (s *Service) Broker() broker.Broker { return s.comps.Broker }

// Store returns the key-value store in use.
func (s *Service) Store() store.Store { return s.comps.Store }

// ErrStopped is returned by Start after Stop or Close.
var ErrStopped = errors.New("micro: the service is stopped")

// Start starts the server: it listens, subscribes and registers. It fails
// with ErrStopped once Stop or Close was called.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	return s.srv.Start(ctx)
}

// Stop stops the server gracefully (see server.Server.Stop), then closes the
// client and every component that New created. It is safe to call from
// any goroutine, concurrently and more than once, also with Run's own
// stop and with Close: the first call stops the service, and every call
// returns when it is stopped, with the first call's error.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		<-s.done
		return s.stopErr
	}
	s.stopped = true
	s.mu.Unlock()

	// Start holds mu while it starts, so the server is started or never
	// will be.
	errs := []error{s.srv.Stop(ctx), s.cli.Close(), s.comps.Close(ctx)}
	s.stopErr = errors.Join(errs...)
	close(s.done)
	return s.stopErr
}

// Close releases the client and the components New created, for programs
// that use the service only as a client and never Start it. It is Stop
// with no deadline.
func (s *Service) Close() error { return s.Stop(context.Background()) }

// Run starts the service and blocks until SIGINT or SIGTERM, or until ctx
// ends, or until Stop or Close is called, then stops it gracefully. A
// graceful stop returns nil, also when the signal or ctx's end comes while
// the service is starting: a program's main can exit with status 0 when
// Run returns no error.
func (s *Service) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		s.Stop(context.Background())
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Stopped (a signal, or ctx) while starting: a graceful stop.
			return nil
		}
		return err
	}
	select {
	case <-ctx.Done():
		s.opts.logger.Info("stopping", "service", s.name)
	case <-s.done:
	}
	return s.Stop(context.Background())
}
