package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/transport"
	"go.uber.org/goleak"
)

func leakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// firehose sends 1 KiB messages until its context ends, counting them.
func firehose(sent *atomic.Int64) transport.StreamHandler {
	body := make([]byte, 1024)
	return func(ctx context.Context, open *transport.Frame, s *transport.Stream) *transport.Frame {
		for {
			if err := s.Send(&transport.Frame{Body: body}); err != nil {
				return &transport.Frame{Code: 1, Message: err.Error()}
			}
			sent.Add(1)
		}
	}
}

// echoStream sends back every message until the client half-closes.
func echoStream(ctx context.Context, open *transport.Frame, s *transport.Stream) *transport.Frame {
	for {
		f, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &transport.Frame{Code: 1, Message: err.Error()}
		}
		if err := s.Send(&transport.Frame{Body: f.Body}); err != nil {
			return &transport.Frame{Code: 1, Message: err.Error()}
		}
	}
}

func dialConn(t *testing.T, addr string) *transport.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := transport.NewConn(nc, 0)
	t.Cleanup(func() { c.Close() })
	return c
}

// unaryP99 makes n calls on c from 4 goroutines and returns their p99.
func unaryP99(t *testing.T, c *transport.Conn, n int) time.Duration {
	t.Helper()
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				start := time.Now()
				_, err := c.RoundTrip(context.Background(), &transport.Frame{Endpoint: "E", Body: []byte("ping")})
				d := time.Since(start)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// A stream whose reader stops stalls only itself: the server's sender waits
// for window, and unary calls on the same connection keep their latency.
func TestStreamSlowReaderStallsOnlyItsStream(t *testing.T) {
	leakCheck(t)
	var sent atomic.Int64
	_, addr := startServer(t, echo, transport.WithStreamHandler(firehose(&sent)))
	c := dialConn(t, addr)

	var ratios []float64
	for round := 0; round < 3; round++ {
		base := unaryP99(t, c, 1000)
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.OpenStream(ctx, &transport.Frame{Endpoint: "Feed"})
		if err != nil {
			t.Fatal(err)
		}
		// Wait until the sender is stalled by the window.
		before := sent.Load()
		for {
			time.Sleep(20 * time.Millisecond)
			now := sent.Load()
			if now == before && now > 0 {
				break
			}
			before = now
		}
		slow := unaryP99(t, c, 1000)
		stalled := sent.Load()
		limit := int64((transport.DefaultStreamWindow+transport.DefaultMaxFrameSize)/1024 + 2)
		if stalled-before > 0 || stalled > limit*int64(round+1) {
			t.Fatalf("the sender kept sending to a reader that does not read: %d messages", stalled)
		}
		// The stalled stream still works: reading resumes the flow.
		for i := 0; i < 500; i++ {
			if _, err := s.Recv(); err != nil {
				t.Fatalf("reading the stalled stream: %v", err)
			}
		}
		cancel()
		s.Close()
		ratios = append(ratios, float64(slow)/float64(base))
		t.Logf("round %d: unary p99 %v without the slow stream, %v with it (ratio %.2f); %d messages sent before the window closed",
			round, base, slow, float64(slow)/float64(base), stalled)
	}
	if best := slices.Min(ratios); best > 2 {
		t.Fatalf("unary p99 with a stalled stream on the connection is %.2f× the p99 without it in the best of 3 rounds (ratios %.2f), want within 2×", best, ratios)
	}
}

func TestStreamMessagesAndFrameLimit(t *testing.T) {
	leakCheck(t)
	_, addr := startServer(t, echo, transport.WithStreamHandler(echoStream), transport.WithServerMaxFrameSize(64<<10))
	c := dialConn(t, addr)
	s, err := c.OpenStream(context.Background(), &transport.Frame{Endpoint: "Echo"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The client's limit is the default 4 MiB: the server refuses a 100
	// KiB message before allocating it, and closes the connection.
	if err := s.Send(&transport.Frame{Body: make([]byte, 10)}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Recv(); err != nil || len(f.Body) != 10 {
		t.Fatalf("echo: %v", err)
	}
	big := transport.NewConn(mustDial(t, addr), 1<<20)
	defer big.Close()
	s2, err := big.OpenStream(context.Background(), &transport.Frame{Endpoint: "Echo"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Send(&transport.Frame{Body: make([]byte, 100<<10)}); err != nil {
		t.Fatal(err)
	}
	_, err = s2.Recv()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("a message over the server's frame limit: %v, want the connection closed", err)
	}
	// A message over the sender's own limit is refused locally; the stream
	// goes on.
	if err := s.Send(&transport.Frame{Body: make([]byte, 5<<20)}); !errors.Is(err, transport.ErrFrameTooLarge) {
		t.Fatalf("Send of 5 MiB: %v, want ErrFrameTooLarge", err)
	}
	if err := s.Send(&transport.Frame{Body: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Recv(); err != nil || string(f.Body) != "after" {
		t.Fatalf("stream after a refused message: %q, %v", f.Body, err)
	}
}

func mustDial(t *testing.T, addr string) net.Conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// A peer that ignores the window is disconnected instead of being buffered
// without bound.
func TestStreamWindowViolationClosesConnection(t *testing.T) {
	leakCheck(t)
	_, addr := startServer(t, echo, transport.WithServerMaxFrameSize(64<<10), transport.WithServerStreamWindow(256<<10),
		transport.WithStreamHandler(func(ctx context.Context, open *transport.Frame, s *transport.Stream) *transport.Frame {
			<-ctx.Done() // never reads
			return nil
		}))
	nc := mustDial(t, addr)
	defer nc.Close()
	b, _ := transport.AppendFrame(nil, &transport.Frame{Kind: transport.KindStream, ID: 1, Endpoint: "E"}, 0)
	body := make([]byte, 1024)
	for i := 0; i < 600; i++ {
		b, _ = transport.AppendFrame(b, &transport.Frame{Kind: transport.KindData, ID: 1, Body: body}, 0)
	}
	go func() {
		nc.SetWriteDeadline(time.Now().Add(3 * time.Second))
		nc.Write(b)
	}()
	if !closedWithin(nc, 3*time.Second) {
		t.Fatal("a peer that sent 600 KiB into a 256 KiB window is still connected")
	}
}

func TestStreamRefusedWhileDraining(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	s, addr := startServer(t, echo, transport.WithStreamHandler(func(ctx context.Context, open *transport.Frame, st *transport.Stream) *transport.Frame {
		<-release
		return nil
	}))
	c := dialConn(t, addr)
	first, err := c.OpenStream(context.Background(), &transport.Frame{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for s.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	second, err := c.OpenStream(context.Background(), &transport.Frame{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_, err = second.Recv()
	var st *transport.StatusError
	if !errors.As(err, &st) || st.Code != 14 || !st.Retryable {
		t.Fatalf("stream opened while draining: %v, want a retryable unavailable status", err)
	}
	close(release)
	if _, err := first.Recv(); err != io.EOF {
		t.Fatalf("stream open before the shutdown: %v, want io.EOF", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
