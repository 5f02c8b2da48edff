package client_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/server"
	"go.uber.org/goleak"
)

// leakCheck fails t if goroutines started during the test outlive it. Call
// it first: it runs after every other cleanup.
func leakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

type Tick struct {
	N int `json:"n"`
}

type FeedRequest struct {
	Count    int           `json:"count"`
	Every    time.Duration `json:"every,omitempty"`
	FailWith errors.Code   `json:"fail_with,omitempty"`
	Block    bool          `json:"block,omitempty"`
}

// Feed serves the stream endpoints of the tests.
type Feed struct {
	opened  atomic.Int64
	blocked chan struct{}  // a Block stream sent its messages and waits
	ended   chan time.Time // when a Block stream's context ended
	endErr  chan error
}

func newFeed() *Feed {
	return &Feed{blocked: make(chan struct{}, 16), ended: make(chan time.Time, 16), endErr: make(chan error, 16)}
}

func (f *Feed) Count(ctx context.Context, req *FeedRequest, s server.ServerStream[Tick]) error {
	f.opened.Add(1)
	for i := 0; i < req.Count; i++ {
		if req.Every > 0 {
			select {
			case <-time.After(req.Every):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := s.Send(&Tick{N: i}); err != nil {
			return err
		}
	}
	if req.Block {
		f.blocked <- struct{}{}
		<-ctx.Done()
		f.ended <- time.Now()
		f.endErr <- ctx.Err()
		return ctx.Err()
	}
	if req.FailWith != 0 {
		return errors.Errorf(req.FailWith, "failed after %d messages", req.Count)
	}
	return nil
}

// Echo sends back every message, until the client half-closes.
func (f *Feed) Echo(ctx context.Context, s server.BidiStream[Tick, Tick]) error {
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(m); err != nil {
			return err
		}
	}
}

// Sum is a client stream: it reads everything, then answers once.
func (f *Feed) Sum(ctx context.Context, s server.BidiStream[Tick, Tick]) error {
	sum := 0
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return s.Send(&Tick{N: sum})
		}
		if err != nil {
			return err
		}
		sum += m.N
	}
}

func (f *Feed) Unary(ctx context.Context, req *Tick, rsp *Tick) error { rsp.N = req.N; return nil }

func startFeed(t *testing.T, reg registry.Registry, opts ...server.Option) (*server.Server, *Feed) {
	t.Helper()
	f := newFeed()
	s := server.New(append([]server.Option{server.WithName("feed"), server.WithRegistry(reg), server.WithLogger(quiet())}, opts...)...)
	if err := s.Handle(f); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, f
}

func openCount(t *testing.T, ctx context.Context, c *client.Client, req *FeedRequest) *client.Stream {
	t.Helper()
	s, err := c.Stream(ctx, "feed", "Feed.Count")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Send(req); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	return s
}

func recvAll(s *client.Stream) ([]int, error) {
	var got []int
	for {
		var m Tick
		if err := s.Recv(&m); err != nil {
			return got, err
		}
		got = append(got, m.N)
	}
}

func checkSequence(t *testing.T, got []int, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("message %d is %d: out of order", i, v)
		}
	}
}

func TestStreamServerStreamEndsWithEOF(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	startFeed(t, reg)
	c := newClient(t, reg)
	s := openCount(t, context.Background(), c, &FeedRequest{Count: 1000})
	got, err := recvAll(s)
	if err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
	checkSequence(t, got, 1000)
	if err := s.Recv(&Tick{}); err != io.EOF {
		t.Fatalf("Recv after the end: %v, want io.EOF again", err)
	}
}

func TestStreamKindPublishedInRegistry(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	startFeed(t, reg)
	svcs, err := reg.Lookup(context.Background(), "feed")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, e := range svcs[0].Endpoints {
		kinds[e.Name] = e.Metadata[server.MetaStream]
	}
	want := map[string]string{"Feed.Count": "server", "Feed.Echo": "bidi", "Feed.Sum": "bidi", "Feed.Unary": "", "Health.Check": ""}
	for name, kind := range want {
		if got, ok := kinds[name]; !ok || got != kind {
			t.Errorf("endpoint %s: stream kind %q (present %v), want %q", name, got, ok, kind)
		}
	}
	for _, e := range svcs[0].Endpoints {
		if e.Name == "Feed.Echo" && (e.Request == nil || e.Request.Type != "Tick" || e.Response == nil || e.Response.Type != "Tick") {
			t.Errorf("Feed.Echo schema: request %+v response %+v, want Tick both", e.Request, e.Response)
		}
	}
}

func TestStreamHandlerErrorAfterLastMessage(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	startFeed(t, reg)
	c := newClient(t, reg)
	s := openCount(t, context.Background(), c, &FeedRequest{Count: 3, FailWith: errors.NotFound})
	got, err := recvAll(s)
	checkSequence(t, got, 3)
	if errors.CodeOf(err) != errors.NotFound || !strings.Contains(err.Error(), "failed after 3 messages") {
		t.Fatalf("end of stream: %v, want not_found with the handler's message", err)
	}
}

func TestStreamBidiAndHalfClose(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	startFeed(t, reg)
	c := newClient(t, reg)
	t.Run("lockstep", func(t *testing.T) {
		s, err := c.Stream(context.Background(), "feed", "Feed.Echo")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := 0; i < 100; i++ {
			if err := s.Send(&Tick{N: i}); err != nil {
				t.Fatal(err)
			}
			var m Tick
			if err := s.Recv(&m); err != nil || m.N != i {
				t.Fatalf("echo %d: got %d, %v", i, m.N, err)
			}
		}
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := s.Recv(&Tick{}); err != io.EOF {
			t.Fatalf("after half-close: %v, want io.EOF", err)
		}
	})
	t.Run("send all, half-close, then receive", func(t *testing.T) {
		s, err := c.Stream(context.Background(), "feed", "Feed.Echo")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := 0; i < 200; i++ {
			if err := s.Send(&Tick{N: i}); err != nil {
				t.Fatal(err)
			}
		}
		s.CloseSend()
		got, err := recvAll(s)
		if err != io.EOF {
			t.Fatalf("end: %v, want io.EOF", err)
		}
		checkSequence(t, got, 200)
	})
	t.Run("client stream", func(t *testing.T) {
		s, err := c.Stream(context.Background(), "feed", "Feed.Sum")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := 1; i <= 10; i++ {
			s.Send(&Tick{N: i})
		}
		s.CloseSend()
		var m Tick
		if err := s.Recv(&m); err != nil || m.N != 55 {
			t.Fatalf("sum: %d, %v; want 55", m.N, err)
		}
		if err := s.Recv(&m); err != io.EOF {
			t.Fatalf("after the answer: %v, want io.EOF", err)
		}
	})
}

func TestStreamClientCancelEndsHandlerWithin50ms(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	_, feed := startFeed(t, reg)
	c := newClient(t, reg)
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		s := openCount(t, ctx, c, &FeedRequest{Count: 1, Block: true})
		if err := s.Recv(&Tick{}); err != nil {
			t.Fatal(err)
		}
		<-feed.blocked
		cancelled := time.Now()
		cancel()
		var ended time.Time
		select {
		case ended = <-feed.ended:
		case <-time.After(5 * time.Second):
			t.Fatal("handler's context not done 5s after the client cancelled")
		}
		if err := <-feed.endErr; err != context.Canceled {
			t.Fatalf("handler context ended with %v, want context.Canceled", err)
		}
		if d := ended.Sub(cancelled); d > 50*time.Millisecond {
			t.Fatalf("handler's context done %v after the client cancelled, want within 50ms", d)
		}
		if err := s.Recv(&Tick{}); errors.CodeOf(err) != errors.Canceled {
			t.Fatalf("client Recv after cancel: %v, want canceled", err)
		}
	}
}

func TestStreamDeadlineEndsBothSides(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	_, feed := startFeed(t, reg)
	c := newClient(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s := openCount(t, ctx, c, &FeedRequest{Count: 2, Block: true})
	got, err := recvAll(s)
	checkSequence(t, got, 2)
	if errors.CodeOf(err) != errors.DeadlineExceeded {
		t.Fatalf("client: %v, want deadline_exceeded", err)
	}
	select {
	case err := <-feed.endErr:
		if err != context.DeadlineExceeded && err != context.Canceled {
			t.Fatalf("handler context: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("handler still running 2s after the stream's deadline")
	}
}

func TestStreamNodeLostIsUnavailableNotRetried(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	k := &killable{}
	_, feed := startFeed(t, reg, server.WithTransport(k))
	c := newClient(t, reg)
	s := openCount(t, context.Background(), c, &FeedRequest{Count: 1, Block: true})
	if err := s.Recv(&Tick{}); err != nil {
		t.Fatal(err)
	}
	<-feed.blocked
	k.kill()
	err := s.Recv(&Tick{})
	if errors.CodeOf(err) != errors.Unavailable {
		t.Fatalf("after the node was lost: %v, want unavailable", err)
	}
	if err := s.Send(&Tick{}); err == nil {
		t.Fatal("Send after the node was lost succeeded")
	}
	time.Sleep(50 * time.Millisecond)
	if n := feed.opened.Load(); n != 1 {
		t.Fatalf("the stream was opened %d times: streams must not be retried", n)
	}
}

func TestStreamGracefulStop(t *testing.T) {
	leakCheck(t)
	t.Run("open streams finish within the grace period", func(t *testing.T) {
		reg := newRegistry(t)
		srv, _ := startFeed(t, reg, server.WithGracePeriod(5*time.Second))
		c := newClient(t, reg)
		s := openCount(t, context.Background(), c, &FeedRequest{Count: 10, Every: 20 * time.Millisecond})
		var m Tick
		if err := s.Recv(&m); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- srv.Stop(context.Background()) }()
		got, err := recvAll(s)
		if err != io.EOF {
			t.Fatalf("stream during a graceful stop: %v, want io.EOF", err)
		}
		checkSequence(t, append([]int{0}, got...), 10)
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})
	t.Run("then they are cancelled", func(t *testing.T) {
		reg := newRegistry(t)
		srv, feed := startFeed(t, reg, server.WithGracePeriod(200*time.Millisecond))
		c := newClient(t, reg)
		s := openCount(t, context.Background(), c, &FeedRequest{Count: 1, Block: true})
		if err := s.Recv(&Tick{}); err != nil {
			t.Fatal(err)
		}
		<-feed.blocked
		start := time.Now()
		err := srv.Stop(context.Background())
		if err == nil || !strings.Contains(err.Error(), "grace period") {
			t.Fatalf("Stop with a stream open past the grace period: %v, want an error naming the grace period", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Stop took %v with a 200ms grace period", d)
		}
		if err := <-feed.endErr; err != context.Canceled {
			t.Fatalf("handler context: %v, want canceled", err)
		}
		if err := s.Recv(&Tick{}); err == nil {
			t.Fatal("client stream still open after the server stopped")
		}
	})
}

func TestStreamWrongShape(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	startFeed(t, reg)
	c := newClient(t, reg)
	err := c.Call(context.Background(), "feed", "Feed.Count", &FeedRequest{}, &Tick{})
	if errors.CodeOf(err) != errors.Unimplemented || !strings.Contains(err.Error(), "client.Stream") {
		t.Fatalf("Call on a stream endpoint: %v, want unimplemented saying to use client.Stream", err)
	}
	s, err := c.Stream(context.Background(), "feed", "Feed.Unary")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Send(&Tick{})
	s.CloseSend()
	if err := s.Recv(&Tick{}); errors.CodeOf(err) != errors.Unimplemented {
		t.Fatalf("Stream on a unary endpoint: %v, want unimplemented", err)
	}
	s2, err := c.Stream(context.Background(), "feed", "Feed.Count")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.CloseSend()
	if err := s2.Recv(&Tick{}); errors.CodeOf(err) != errors.InvalidArgument {
		t.Fatalf("server stream without its request: %v, want invalid_argument", err)
	}
}

func TestStreamsAndCallsShareAConnection(t *testing.T) {
	leakCheck(t)
	reg := newRegistry(t)
	startFeed(t, reg)
	c := newClient(t, reg, client.WithPoolSize(1))
	errc := make(chan error, 64)
	for g := 0; g < 32; g++ {
		go func() {
			s, err := c.Stream(context.Background(), "feed", "Feed.Echo")
			if err != nil {
				errc <- err
				return
			}
			defer s.Close()
			for i := 0; i < 50; i++ {
				if err := s.Send(&Tick{N: g*1000 + i}); err != nil {
					errc <- err
					return
				}
				var m Tick
				if err := s.Recv(&m); err != nil || m.N != g*1000+i {
					errc <- fmt.Errorf("stream %d message %d: got %d, %v", g, i, m.N, err)
					return
				}
				var rsp Tick
				if err := c.Call(context.Background(), "feed", "Feed.Unary", &Tick{N: i}, &rsp); err != nil || rsp.N != i {
					errc <- fmt.Errorf("call between stream messages: %d, %v", rsp.N, err)
					return
				}
			}
			errc <- nil
		}()
	}
	for g := 0; g < 32; g++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
