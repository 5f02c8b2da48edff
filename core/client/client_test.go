package client_test

import (
	"context"
	stderrors "errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	brokermem "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
	"github.com/seedmicro/micro/core/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type HelloRequest struct {
	Name  string        `json:"name"`
	Sleep time.Duration `json:"sleep,omitempty"`
}

type HelloResponse struct {
	Greeting string `json:"greeting"`
	Node     string `json:"node"`
	Trace    string `json:"trace,omitempty"`
}

type Greeter struct {
	node      string
	calls     atomic.Int64
	cancelled chan error
}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	g.calls.Add(1)
	if req.Sleep > 0 {
		select {
		case <-time.After(req.Sleep):
		case <-ctx.Done():
			if g.cancelled != nil {
				g.cancelled <- ctx.Err()
			}
			return ctx.Err()
		}
	}
	rsp.Greeting = "hello " + req.Name
	rsp.Node = g.node
	rsp.Trace, _ = metadata.Get(ctx, "trace-id")
	return nil
}

func (g *Greeter) Find(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	g.calls.Add(1)
	return errors.Errorf(errors.NotFound, "no user named %q", req.Name)
}

// killable is a TCP transport whose listener and accepted connections can be
// torn down at once, like a process that dies without deregistering.
type killable struct {
	transport.TCP
	mu          sync.Mutex
	listeners   []net.Listener
	conns       []net.Conn
	closedAt    time.Time
	onListClose func()
}

type trackedListener struct {
	net.Listener
	k *killable
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.k.mu.Lock()
		l.k.conns = append(l.k.conns, c)
		l.k.mu.Unlock()
	}
	return c, err
}

func (l *trackedListener) Close() error {
	l.k.mu.Lock()
	if l.k.closedAt.IsZero() {
		l.k.closedAt = time.Now()
	}
	l.k.mu.Unlock()
	return l.Listener.Close()
}

func (k *killable) Listen(ctx context.Context, addr string) (net.Listener, error) {
	l, err := k.TCP.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	tl := &trackedListener{Listener: l, k: k}
	k.mu.Lock()
	k.listeners = append(k.listeners, tl)
	k.mu.Unlock()
	return tl, nil
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range k.listeners {
		l.(*trackedListener).Listener.Close()
	}
	for _, c := range k.conns {
		c.Close()
	}
}

func startGreeter(t *testing.T, reg registry.Registry, node string, opts ...server.Option) (*server.Server, *Greeter) {
	t.Helper()
	g := &Greeter{node: node, cancelled: make(chan error, 16)}
	opts = append([]server.Option{server.WithName("greeter"), server.WithID(node), server.WithRegistry(reg), server.WithLogger(quiet())}, opts...)
	s := server.New(opts...)
	if err := s.Handle(g); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, g
}

func newClient(t *testing.T, reg registry.Registry, opts ...client.Option) *client.Client {
	c := client.New(append([]client.Option{client.WithRegistry(reg)}, opts...)...)
	t.Cleanup(func() { c.Close() })
	return c
}

func newRegistry(t *testing.T) *memory.Registry {
	r := memory.New()
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRoundRobinSplitsCallsEvenly(t *testing.T) {
	reg := newRegistry(t)
	startGreeter(t, reg, "a")
	startGreeter(t, reg, "b")
	c := newClient(t, reg)
	counts := map[string]int{}
	for i := 0; i < 1000; i++ {
		var rsp HelloResponse
		if err := c.Call(context.Background(), "greeter", "Greeter.Hello", &HelloRequest{Name: "x"}, &rsp); err != nil {
			t.Fatal(err)
		}
		counts[rsp.Node]++
	}
	for _, node := range []string{"a", "b"} {
		if n := counts[node]; n < 400 || n > 600 {
			t.Fatalf("node %s got %d of 1000 calls, want 500 ± 100 (counts %v)", node, n, counts)
		}
	}
}

func TestNodeDyingWithoutDeregisteringLosesNoCalls(t *testing.T) {
	reg := newRegistry(t)
	k := &killable{}
	startGreeter(t, reg, "doomed", server.WithTransport(k))
	startGreeter(t, reg, "survivor")
	c := newClient(t, reg)

	var done, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				var rsp HelloResponse
				err := c.Call(context.Background(), "greeter", "Greeter.Hello", &HelloRequest{Name: "x"}, &rsp)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				done.Add(1)
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		if i == 500 {
			k.kill() // listener and connections gone, registry entry left behind
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed; first error: %v", n, done.Load(), firstErr.Load())
	}
}

func TestDeadlineTravelsAndCancelsHandler(t *testing.T) {
	reg := newRegistry(t)
	_, g := startGreeter(t, reg, "a")
	c := newClient(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, "greeter", "Greeter.Hello", &HelloRequest{Name: "x", Sleep: time.Second}, &HelloResponse{})
	took := time.Since(start)
	if errors.CodeOf(err) != errors.DeadlineExceeded {
		t.Fatalf("err = %v (code %v), want DeadlineExceeded", err, errors.CodeOf(err))
	}
	if took > 200*time.Millisecond {
		t.Fatalf("deadline error after %v, want within 200ms", took)
	}
	select {
	case err := <-g.cancelled:
		if !stderrors.Is(err, context.DeadlineExceeded) && !stderrors.Is(err, context.Canceled) {
			t.Fatalf("handler context ended with %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the handler's context was not cancelled")
	}
}

func TestErrorCodeArrivesAndIsNotRetried(t *testing.T) {
	reg := newRegistry(t)
	_, ga := startGreeter(t, reg, "a")
	_, gb := startGreeter(t, reg, "b")
	c := newClient(t, reg)
	err := c.Call(context.Background(), "greeter", "Greeter.Find", &HelloRequest{Name: "ada"}, &HelloResponse{})
	if errors.CodeOf(err) != errors.NotFound {
		t.Fatalf("code = %v (%v), want NotFound", errors.CodeOf(err), err)
	}
	var e *errors.Error
	if !stderrors.As(err, &e) || e.Message() != `no user named "ada"` {
		t.Fatalf("message = %q, want the server's message", e.Message())
	}
	if n := ga.calls.Load() + gb.calls.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; application errors must not be retried", n)
	}
}

func TestRetryOnOptsInCodes(t *testing.T) {
	reg := newRegistry(t)
	_, ga := startGreeter(t, reg, "a")
	_, gb := startGreeter(t, reg, "b")
	c := newClient(t, reg, client.WithRetryOn(errors.NotFound), client.WithRetries(2))
	err := c.Call(context.Background(), "greeter", "Greeter.Find", &HelloRequest{}, &HelloResponse{})
	if errors.CodeOf(err) != errors.NotFound {
		t.Fatalf("err = %v", err)
	}
	if n := ga.calls.Load() + gb.calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3 (1 + 2 retries)", n)
	}
}

func TestMetadataPropagates(t *testing.T) {
	reg := newRegistry(t)
	startGreeter(t, reg, "a")
	c := newClient(t, reg)
	ctx := metadata.AppendToContext(context.Background(), "Trace-Id", "t-123")
	var rsp HelloResponse
	if err := c.Call(ctx, "greeter", "Greeter.Hello", &HelloRequest{Name: "x"}, &rsp); err != nil {
		t.Fatal(err)
	}
	if rsp.Trace != "t-123" {
		t.Fatalf("handler saw trace %q, want t-123", rsp.Trace)
	}
}

func TestUnknownServiceAndEndpoint(t *testing.T) {
	reg := newRegistry(t)
	startGreeter(t, reg, "a")
	c := newClient(t, reg)
	if err := c.Call(context.Background(), "nope", "X.Y", &HelloRequest{}, &HelloResponse{}); errors.CodeOf(err) != errors.NotFound {
		t.Fatalf("unknown service: %v, want NotFound", err)
	}
	if err := c.Call(context.Background(), "greeter", "Greeter.Nope", &HelloRequest{}, &HelloResponse{}); errors.CodeOf(err) != errors.Unimplemented {
		t.Fatalf("unknown endpoint: %v, want Unimplemented", err)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	reg := newRegistry(t)
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	mw := func(name string) server.Middleware {
		return func(next server.Handler) server.Handler {
			return func(ctx context.Context, req *server.Request) (any, error) {
				note("server " + name)
				return next(ctx, req)
			}
		}
	}
	cmw := func(name string) client.Middleware {
		return func(next client.CallFunc) client.CallFunc {
			return func(ctx context.Context, req *client.Request, rsp any) error {
				note("client " + name)
				return next(ctx, req, rsp)
			}
		}
	}
	startGreeter(t, reg, "a", server.WithMiddleware(mw("1"), mw("2")))
	c := newClient(t, reg, client.WithMiddleware(cmw("1"), cmw("2")))
	if err := c.Call(context.Background(), "greeter", "Greeter.Hello", &HelloRequest{}, &HelloResponse{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"client 1", "client 2", "server 1", "server 2"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

// orderedRegistry records when the server deregistered.
type orderedRegistry struct {
	registry.Registry
	mu             sync.Mutex
	deregisteredAt time.Time
}

func (r *orderedRegistry) Deregister(ctx context.Context, svc *registry.Service) error {
	r.mu.Lock()
	r.deregisteredAt = time.Now()
	r.mu.Unlock()
	return r.Registry.Deregister(ctx, svc)
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	reg := &orderedRegistry{Registry: newRegistry(t)}
	k := &killable{}
	s, g := startGreeter(t, reg, "a", server.WithTransport(k))
	c := newClient(t, reg)
	// Warm the connections so the 100 calls start at once.
	if err := c.Call(context.Background(), "greeter", "Greeter.Hello", &HelloRequest{}, &HelloResponse{}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		go func() {
			var rsp HelloResponse
			errs <- c.Call(context.Background(), "greeter", "Greeter.Hello", &HelloRequest{Name: "x", Sleep: 300 * time.Millisecond}, &rsp)
		}()
	}
	// Stop once the 100 calls are in the handler (the warm-up call was 1).
	for deadline := time.Now().Add(10 * time.Second); g.calls.Load() < 101; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the 100 calls reached the handler in 10s", g.calls.Load()-1)
		}
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("in-flight call failed during graceful shutdown: %v", err)
		}
	}
	if _, err := reg.Lookup(context.Background(), "greeter"); !stderrors.Is(err, registry.ErrNotFound) {
		t.Fatalf("service still registered after Stop: %v", err)
	}
	reg.mu.Lock()
	dereg := reg.deregisteredAt
	reg.mu.Unlock()
	k.mu.Lock()
	closed := k.closedAt
	k.mu.Unlock()
	if dereg.IsZero() || closed.IsZero() || !dereg.Before(closed) {
		t.Fatalf("deregistered at %v, listener closed at %v: the node must leave the registry first", dereg, closed)
	}
}

func TestPublishReachesSubscriber(t *testing.T) {
	reg := newRegistry(t)
	b := brokermem.New()
	t.Cleanup(func() { b.Close(context.Background()) })
	got := make(chan *HelloRequest, 1)
	s := server.New(server.WithName("listener"), server.WithRegistry(reg), server.WithBroker(b), server.WithLogger(quiet()))
	if err := s.Subscribe("user.created", func(ctx context.Context, ev *HelloRequest) error {
		got <- ev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	c := newClient(t, reg, client.WithBroker(b))
	if err := c.Publish(context.Background(), "user.created", &HelloRequest{Name: "ada"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Name != "ada" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber got nothing")
	}
}

func TestHealthAndSchemas(t *testing.T) {
	reg := newRegistry(t)
	startGreeter(t, reg, "a")
	c := newClient(t, reg)
	var h server.HealthResponse
	if err := c.Call(context.Background(), "greeter", "Health.Check", &server.HealthRequest{}, &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "serving" || h.Service != "greeter" {
		t.Fatalf("health %+v", h)
	}
	svcs, err := reg.Lookup(context.Background(), "greeter")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range svcs[0].Endpoints {
		if e.Name == "Greeter.Hello" {
			found = true
			if e.Request == nil || len(e.Request.Fields) != 2 || e.Request.Fields[0].Name != "name" {
				t.Fatalf("request schema %+v", e.Request)
			}
		}
	}
	if !found {
		t.Fatalf("Greeter.Hello not published: %+v", svcs[0].Endpoints)
	}
}
