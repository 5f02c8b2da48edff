// Package sidecar lets a program in any language join a micro environment
// over plain HTTP and JSON: it registers the program as a service, carries
// calls from other services to it, calls services for it, publishes its
// events and delivers the events it subscribes to.
//
// # The program's side
//
// The sidecar serves, on its HTTP address:
//
//	POST   /register          {"name", "version", "address", "endpoints", "health_check", "metadata"} → {"name", "id"}
//	POST   /deregister        {"name"}
//	POST   /call/SERVICE/...  call a service, by the path rules of toolkit/api (/call/greeter/hello → Greeter.Hello)
//	POST   /call              {"service", "endpoint", "request"}
//	POST   /publish/TOPIC     the body is the event (JSON); Micro-Meta-KEY headers become its metadata
//	POST   /subscribe         {"topic", "queue", "callback"} → {"id"}: deliveries are pushed to callback
//	GET    /subscribe/TOPIC   deliveries as Server-Sent Events, for as long as the stream is open (?queue=Q)
//	DELETE /subscribe/ID      end a push subscription
//	GET    /health            {"status": "ok"}
//
// Errors are the JSON bodies of toolkit/api: {"code", "status", "message"}.
//
// # Registration
//
// "address" is the program's own HTTP server, such as http://127.0.0.1:3000.
// "endpoints" lists what it serves, as names ("Greeter.Hello") or objects
// with a "name" and optionally "request" and "response" schemas (as in
// registry.Value). The sidecar registers the service with its own RPC
// address as the node's; a call of endpoint E reaches the program as POST
// ADDRESS/E with the request's JSON body, the metadata as Micro-Meta-KEY
// headers and the remaining time as Micro-Timeout. A 2xx answer is the
// response; any other is an error whose code is the body's "code" (as
// toolkit/api writes them) or else follows from the HTTP status.
//
// "health_check" is a URL the sidecar GETs every health interval (default
// 5s): while it fails (an error or a status other than 2xx) the service is
// deregistered, and registered again once it passes.
//
// # Deliveries
//
// A push subscription POSTs each event to its callback with the event as
// body and the headers Micro-Topic, Micro-Message-Id, Micro-Attempt and
// Micro-Meta-KEY. A 2xx answer acknowledges it. Anything else, or no answer
// within the delivery timeout, is retried with back-off, up to the maximum
// attempts (default 5); after that the sidecar nacks the message and the
// broker redelivers it by its own settings: delivery is at least once, so a
// callback may see a message more than once.
//
// A stream (GET /subscribe/TOPIC) sends each event as a Server-Sent Event
// "message" with the event as data and the message ID as id; an event is
// acknowledged once written to the stream, so delivery is at most once per
// stream, and events published while no stream is open are not kept.
package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/transport"
	"github.com/seedmicro/micro/toolkit/api"
)

// Option configures a Sidecar.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	rpcAddress      string
	advertise       string
	healthInterval  time.Duration
	ttl             time.Duration
	maxAttempts     int
	deliveryTimeout time.Duration
	backoff         func(attempt int) time.Duration
	maxBody         int64
	logger          *slog.Logger
	httpClient      *http.Client
}

// WithRPCAddress sets the address the sidecar takes calls for its programs
// on (default 127.0.0.1:0, a free port of the loopback interface).
func WithRPCAddress(addr string) Option { return optionFunc(func(o *options) { o.rpcAddress = addr }) }

// WithAdvertise sets the address registered for the programs' nodes, when
// other machines must reach the sidecar at another address than the one
// it listens on.
func WithAdvertise(addr string) Option { return optionFunc(func(o *options) { o.advertise = addr }) }

// WithHealthInterval sets how often health checks run and registrations are
// renewed (default 5s).
func WithHealthInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.healthInterval = d
		}
	})
}

// WithMaxAttempts sets how many times a push delivery is tried before the
// message is handed back to the broker (default 5).
func WithMaxAttempts(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.maxAttempts = n
		}
	})
}

// WithDeliveryTimeout sets how long a callback may take to answer (default 10s).
func WithDeliveryTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.deliveryTimeout = d
		}
	})
}

// WithBackoff sets the pause before push attempt number attempt (2, 3, ...);
// the default doubles from 100ms up to 5s.
func WithBackoff(f func(attempt int) time.Duration) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.backoff = f
		}
	})
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// Sidecar connects HTTP programs to a registry and a broker. Create it with
// New, Start it, serve Handler over HTTP, and Close it.
type Sidecar struct {
	opts   options
	reg    registry.Registry
	brk    broker.Broker
	caller api.Caller
	gw     *api.Handler
	mux    *http.ServeMux

	ts       *transport.Server
	listener net.Listener
	served   chan error

	mu       sync.Mutex
	programs map[string]*program // by service name
	subs     map[string]*pushSub // by ID
	closed   bool
	bg       sync.WaitGroup
	done     chan struct{}
}

// New returns a sidecar that registers programs in reg, publishes and
// subscribes through b, and calls services through c.
func New(reg registry.Registry, b broker.Broker, c api.Caller, opts ...Option) *Sidecar {
	o := options{
		rpcAddress:      "127.0.0.1:0",
		healthInterval:  5 * time.Second,
		maxAttempts:     5,
		deliveryTimeout: 10 * time.Second,
		maxBody:         api.DefaultMaxBodySize,
		logger:          slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.backoff == nil {
		// Doubling from 100ms before the second attempt, capped at 5s,
		// without jitter.
		p := backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}
		o.backoff = func(attempt int) time.Duration { return p.Delay(attempt - 1) }
	}
	if o.ttl == 0 {
		o.ttl = 3 * o.healthInterval
	}
	o.httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}}
	s := &Sidecar{
		opts: o, reg: reg, brk: b, caller: c,
		gw:       api.New(reg, c, api.WithMaxBodySize(o.maxBody)),
		programs: map[string]*program{},
		subs:     map[string]*pushSub{},
		done:     make(chan struct{}),
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /register", s.handleRegister)
	s.mux.HandleFunc("POST /deregister", s.handleDeregister)
	s.mux.HandleFunc("POST /call", s.handleCall)
	s.mux.HandleFunc("POST /call/", s.handleCall)
	s.mux.HandleFunc("POST /publish/{topic...}", s.handlePublish)
	s.mux.HandleFunc("POST /subscribe", s.handleSubscribe)
	s.mux.HandleFunc("GET /subscribe/{topic...}", s.handleStream)
	s.mux.HandleFunc("DELETE /subscribe/{id}", s.handleUnsubscribe)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, notFound("%s %s: the sidecar serves /register, /deregister, /call, /publish/TOPIC, /subscribe and /health", r.Method, r.URL.Path))
	})
	return s
}

// Handler returns the HTTP API that programs use.
func (s *Sidecar) Handler() http.Handler { return s.mux }

// Start listens for calls to the programs on the RPC address.
func (s *Sidecar) Start(ctx context.Context) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.opts.rpcAddress)
	if err != nil {
		return fmt.Errorf("sidecar: listen for calls on %s: %w", s.opts.rpcAddress, err)
	}
	s.listener = l
	s.ts = transport.NewServer(s.serveFrame)
	s.served = make(chan error, 1)
	go func() { s.served <- s.ts.Serve(l) }()
	return nil
}

// RPCAddress returns the address registered for the programs' nodes.
func (s *Sidecar) RPCAddress() string {
	if s.opts.advertise != "" {
		return s.opts.advertise
	}
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Close deregisters the programs, ends the subscriptions and stops taking
// calls.
func (s *Sidecar) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	progs := s.programs
	subs := s.subs
	s.programs, s.subs = map[string]*program{}, map[string]*pushSub{}
	s.mu.Unlock()
	var errs []error
	for _, p := range progs {
		p.stop()
		errs = append(errs, s.reg.Deregister(ctx, p.service()))
	}
	for _, sub := range subs {
		errs = append(errs, sub.sub.Unsubscribe(ctx))
	}
	s.bg.Wait()
	if s.ts != nil {
		errs = append(errs, s.ts.Shutdown(ctx))
		if err := <-s.served; err != nil && !errors.Is(err, transport.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	s.gw.Close()
	s.opts.httpClient.CloseIdleConnections()
	return errors.Join(errs...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON request body strictly into v.
func (s *Sidecar) decode(w http.ResponseWriter, r *http.Request, v any, example string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			api.WriteError(w, invalid("the body is larger than %d bytes", s.opts.maxBody))
			return false
		}
		api.WriteError(w, invalid("%s %s: %v; want %s", r.Method, r.URL.Path, err, example))
		return false
	}
	return true
}
