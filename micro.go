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
// Which registry, broker and store a service uses is a deploy-time choice:
// with WithConfig, New resolves the names of a resolve.Config (from flags,
// MICRO_* environment variables or a config file) to an implementation
// compiled into the service, else to an installed plugin, which runs in a
// process of its own; see package resolve.
//
//	fs := flag.NewFlagSet("greeter", flag.ExitOnError)
//	flags := resolve.RegisterFlags(fs) // --broker, --broker-address, ...
//	fs.Parse(os.Args[1:])
//	cfg, err := flags.Config(os.Getenv)
//	...
//	svc, err := micro.New("greeter", micro.WithConfig(cfg))
package micro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
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
	config     resolve.Config
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
// names: each to the implementation compiled into the service under that
// name, else to the installed plugin of that name, else to an error that
// says how to install it (see package resolve). Those given with
// WithRegistry, WithBroker or WithStore are used as given. Without it, and
// for a name cfg leaves empty, the default is resolve.DefaultRegistry
// ("local"), resolve.DefaultBroker ("direct") or resolve.DefaultStore
// ("memory").
func WithConfig(cfg resolve.Config) Option { return optionFunc(func(o *options) { o.config = cfg }) }

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
	name   string
	opts   options
	srv    *server.Server
	cli    *client.Client
	closes []resolve.CloseFunc
}

// New builds the service called name. Components not given as options are
// resolved from the configuration of WithConfig (by default the embedded
// defaults), which New creates, plugins included, and Stop closes. New
// fails if one cannot be made, after closing those it made.
func New(name string, opts ...Option) (*Service, error) {
	if name == "" {
		return nil, errors.New("micro: service name is empty")
	}
	o := options{version: "latest", stopGrace: 10 * time.Second}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	s := &Service{name: name, opts: o}
	if err := s.resolve(); err != nil {
		s.Close()
		return nil, fmt.Errorf("micro: %w", err)
	}
	sopts := []server.Option{
		server.WithName(name),
		server.WithVersion(o.version),
		server.WithRegistry(s.opts.registry),
		server.WithBroker(s.opts.broker),
		server.WithLogger(o.logger),
		server.WithGracePeriod(o.stopGrace),
	}
	if o.address != "" {
		sopts = append(sopts, server.WithAddress(o.address))
	}
	s.srv = server.New(append(sopts, o.serverOpts...)...)
	s.cli = client.New(append([]client.Option{
		client.WithRegistry(s.opts.registry),
		client.WithBroker(s.opts.broker),
	}, o.clientOpts...)...)
	return s, nil
}

// resolveTimeout bounds the making of the components, the start of their
// plugins included.
const resolveTimeout = time.Minute

// resolve makes the components not given as options.
func (s *Service) resolve() error {
	o := &s.opts
	r := o.resolver
	if r == nil {
		r = resolve.New(resolve.WithLogger(o.logger))
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	if o.registry == nil {
		reg, closeReg, err := r.Registry(ctx, o.config)
		if err != nil {
			return err
		}
		o.registry = reg
		s.closes = append(s.closes, closeReg)
	}
	if o.broker == nil {
		b, closeBroker, err := r.Broker(ctx, o.config, o.registry)
		if err != nil {
			return err
		}
		o.broker = b
		s.closes = append(s.closes, closeBroker)
	}
	if o.store == nil {
		st, closeStore, err := r.Store(ctx, o.config)
		if err != nil {
			return err
		}
		o.store = st
		s.closes = append(s.closes, closeStore)
	}
	return nil
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
func (s *Service) Registry() registry.Registry { return s.opts.registry }

// Broker returns the broker in use.
func (s *Service) Broker() broker.Broker { return s.opts.broker }

// Store returns the key-value store in use.
func (s *Service) Store() store.Store { return s.opts.store }

// Start starts the server: it listens, subscribes and registers.
func (s *Service) Start(ctx context.Context) error { return s.srv.Start(ctx) }

// Stop stops the server gracefully (see server.Server.Stop), then closes the
// client and every component that New created.
func (s *Service) Stop(ctx context.Context) error {
	var errs []error
	if s.srv != nil {
		errs = append(errs, s.srv.Stop(ctx), s.cli.Close())
	}
	for i := len(s.closes) - 1; i >= 0; i-- {
		errs = append(errs, s.closes[i](ctx))
	}
	s.closes = nil
	return errors.Join(errs...)
}

// Close releases the client and the components New created, for programs
// that use the service only as a client and never Start it.
func (s *Service) Close() error { return s.Stop(context.Background()) }

// Run starts the service and blocks until SIGINT or SIGTERM, or until ctx
// ends, then stops it gracefully.
func (s *Service) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		s.Stop(context.Background())
		return err
	}
	<-ctx.Done()
	s.opts.logger.Info("stopping", "service", s.name)
	return s.Stop(context.Background())
}
