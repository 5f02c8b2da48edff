// Package server is the RPC server: it serves handler methods found by
// reflection, runs broker subscribers, announces itself in a registry with a
// time to live, and shuts down gracefully.
//
// A handler method looks like
//
//	func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error
//
// and is reachable as the endpoint "Greeter.Hello". Every server also answers
// "Health.Check".
//
// Stream endpoints take a stream instead of a response:
//
//	func (f *Feed) Watch(ctx context.Context, req *WatchRequest, s server.ServerStream[Event]) error
//	func (c *Chat) Talk(ctx context.Context, s server.BidiStream[Message, Message]) error
//
// The first is a server stream (one request, many responses), the second a
// client or bidirectional stream. The returned error ends the stream and
// reaches the client, with its code, after the last message. The endpoint's
// stream kind is published in the registry under MetaStream.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/codec"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/transport"
)

// Server serves RPC handlers and broker subscribers.
type Server struct {
	opts options

	mu       sync.Mutex
	methods  map[string]*method
	subs     []*subscriber
	started  bool
	stopped  bool
	ts       *transport.Server
	listener net.Listener
	svc      *registry.Service
	handler  Handler // the middleware chain around the method call
	stopReg  chan struct{}
	bg       sync.WaitGroup
	serveErr chan error
}

// New returns a server configured by opts. Register handlers and
// subscribers, then Start it.
func New(opts ...Option) *Server {
	o := options{
		version:  "latest",
		address:  "127.0.0.1:0",
		ttl:      30 * time.Second,
		grace:    10 * time.Second,
		maxFrame: transport.DefaultMaxFrameSize,
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.transport == nil {
		o.transport = transport.NewTCP()
	}
	if o.interval <= 0 {
		o.interval = o.ttl / 3
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.id == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.id = o.name + "-" + hex.EncodeToString(b[:])
	}
	s := &Server{opts: o, methods: make(map[string]*method)}
	// Health.Check answers whether the server serves.
	if err := s.Handle(&health{s: s}, Name("Health")); err != nil {
		panic(err)
	}
	return s
}

// Handle registers the handler methods of h (see the package comment).
func (s *Server) Handle(h any, opts ...HandleOption) error {
	var ho handleOptions
	for _, o := range opts {
		o.applyHandle(&ho)
	}
	ms, err := methodsOf(h, ho.name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: Handle after Start; register handlers before starting")
	}
	for _, m := range ms {
		if _, dup := s.methods[m.name]; dup {
			return fmt.Errorf("server: endpoint %s is already registered", m.name)
		}
	}
	for _, m := range ms {
		s.methods[m.name] = m
	}
	return nil
}

// Start listens, starts subscribers and registers the service. It returns
// once the server is reachable.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: already started")
	}
	if s.opts.name == "" {
		return errors.New("server: no service name; set one with server.WithName")
	}
	if len(s.subs) > 0 && s.opts.broker == nil {
		return errors.New("server: subscribers need a broker; set one with server.WithBroker")
	}
	l, err := s.opts.transport.Listen(ctx, s.opts.address)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.opts.address, err)
	}
	s.listener = l
	h := Handler(func(ctx context.Context, req *Request) (any, error) {
		m := s.methods[req.Endpoint]
		if req.stream != nil {
			return nil, m.callStream(ctx, req.Body, req.stream)
		}
		return m.call(ctx, req.Body)
	})
	for i := len(s.opts.middleware) - 1; i >= 0; i-- {
		h = s.opts.middleware[i](h)
	}
	s.handler = h
	s.ts = transport.NewServer(s.serveFrame, append([]transport.ServerOption{
		transport.WithServerMaxFrameSize(s.opts.maxFrame),
		transport.WithStreamHandler(s.serveStream),
	}, s.opts.transportOpts...)...)
	s.serveErr = make(chan error, 1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		err := s.ts.Serve(l)
		if errors.Is(err, transport.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	for _, sub := range s.subs {
		if err := sub.start(ctx); err != nil {
			s.abort()
			return err
		}
	}
	s.svc = s.service()
	if s.opts.registry != nil {
		if err := s.opts.registry.Register(ctx, s.svc, s.opts.ttl); err != nil {
			s.abort()
			return fmt.Errorf("server: register %s: %w", s.opts.name, err)
		}
		s.stopReg = make(chan struct{})
		s.bg.Add(1)
		go s.reregister(s.svc, s.stopReg)
	}
	s.started = true
	s.opts.logger.Info("server started", "service", s.opts.name, "version", s.opts.version, "id", s.opts.id, "address", s.advertise())
	return nil
}

// abort undoes a partial Start; s.mu is held.
func (s *Server) abort() {
	for _, sub := range s.subs {
		sub.stop(context.Background())
	}
	s.ts.Close()
	s.bg.Wait()
}

func (s *Server) reregister(svc *registry.Service, stop chan struct{}) {
	defer s.bg.Done()
	t := time.NewTicker(s.opts.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.interval)
			if err := s.opts.registry.Register(ctx, svc, s.opts.ttl); err != nil {
				s.opts.logger.Warn("re-register failed", "service", s.opts.name, "error", err)
			}
			cancel()
		}
	}
}

// Addr returns the address the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Service returns the registration record (nil before Start).
func (s *Server) Service() *registry.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svc.Copy()
}

func (s *Server) advertise() string {
	if s.opts.advertise != "" {
		return s.opts.advertise
	}
	addr := s.listener.Addr().String()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = externalIP()
	}
	return net.JoinHostPort(host, port)
}

// externalIP returns the first non-loopback IPv4 address of the machine,
// for servers that listen on every interface; 127.0.0.1 when there is none.
func externalIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func (s *Server) service() *registry.Service {
	svc := &registry.Service{
		Name:     s.opts.name,
		Version:  s.opts.version,
		Metadata: map[string]string{"transport": "tcp", "protocol": "micro"},
		Nodes: []*registry.Node{{
			ID:       s.opts.id,
			Address:  s.advertise(),
			Metadata: s.opts.metadata,
		}},
	}
	names := make([]string, 0, len(s.methods))
	for n := range s.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		svc.Endpoints = append(svc.Endpoints, s.methods[n].endpoint)
	}
	for _, sub := range s.subs {
		svc.Endpoints = append(svc.Endpoints, sub.endpoint)
	}
	return svc
}

// Stop shuts the server down gracefully: it deregisters first, so clients
// stop choosing this node; then it stops accepting connections and waits up
// to the grace period (or until ctx ends) for requests in flight; new
// requests that still arrive are refused with a retryable Unavailable error,
// which clients retry on another node. Then subscribers stop and
// connections close.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()

	var errs []error
	if s.stopReg != nil {
		close(s.stopReg)
		if err := s.opts.registry.Deregister(ctx, s.svc); err != nil {
			errs = append(errs, fmt.Errorf("server: deregister: %w", err))
		}
	}
	gctx, cancel := context.WithTimeout(ctx, s.opts.grace)
	defer cancel()
	if err := s.ts.Shutdown(gctx); err != nil {
		errs = append(errs, fmt.Errorf("server: %d requests still running after the grace period: %w", s.ts.InFlight(), err))
	}
	for _, sub := range s.subs {
		if err := sub.stop(gctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.bg.Wait()
	if err := <-s.serveErr; err != nil {
		errs = append(errs, err)
	}
	s.opts.logger.Info("server stopped", "service", s.opts.name, "id", s.opts.id)
	return errors.Join(errs...)
}

// serveFrame runs one request frame.
func (s *Server) serveFrame(ctx context.Context, f *transport.Frame) *transport.Frame {
	rsp, ct, err := s.serve(ctx, f)
	if err != nil {
		code := merrors.CodeOf(err)
		msg := err.Error()
		var e *merrors.Error
		if errors.As(err, &e) {
			msg = e.Message()
		}
		return &transport.Frame{Code: uint32(code), Message: msg}
	}
	return &transport.Frame{ContentType: ct, Body: rsp}
}

func (s *Server) serve(ctx context.Context, f *transport.Frame) (body []byte, ct string, err error) {
	m := s.methods[f.Endpoint]
	if m == nil {
		return nil, "", merrors.Errorf(merrors.Unimplemented, "service %s has no endpoint %q", s.opts.name, f.Endpoint)
	}
	if m.stream != "" {
		return nil, "", merrors.Errorf(merrors.Unimplemented, "endpoint %s of service %s is a %s stream: open it with client.Stream, not Call", f.Endpoint, s.opts.name, m.stream)
	}
	c, err := codec.ByName(f.ContentType)
	if err != nil {
		return nil, "", merrors.Wrap(merrors.InvalidArgument, err)
	}
	req := newValue(m.reqType)
	if err := c.Unmarshal(f.Body, req); err != nil {
		return nil, "", merrors.Errorf(merrors.InvalidArgument, "decode %s request: %v", f.Endpoint, err)
	}
	ctx = withMeta(ctx, f.Meta)
	defer func() {
		if r := recover(); r != nil {
			s.opts.logger.Error("handler panicked", "endpoint", f.Endpoint, "panic", r)
			body, ct, err = nil, "", merrors.Errorf(merrors.Internal, "handler %s panicked: %v", f.Endpoint, r)
		}
	}()
	rsp, err := s.handler(ctx, &Request{Service: f.Service, Endpoint: f.Endpoint, ContentType: c.Name(), Body: req})
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", merrors.FromContext(err)
	}
	body, err = c.Marshal(rsp)
	if err != nil {
		return nil, "", merrors.Errorf(merrors.Internal, "encode %s response: %v", f.Endpoint, err)
	}
	return body, c.Name(), nil
}

// withMeta returns ctx carrying the metadata of a frame.
func withMeta(ctx context.Context, meta []string) context.Context {
	if len(meta) == 0 {
		return ctx
	}
	md := make(metadata.MD, len(meta)/2)
	for i := 0; i+1 < len(meta); i += 2 {
		md[meta[i]] = meta[i+1]
	}
	return metadata.NewContext(ctx, md)
}
