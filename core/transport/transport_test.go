package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T, h transport.Handler, opts ...transport.ServerOption) (*transport.Server, string) {
	t.Helper()
	l, err := transport.NewTCP().Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := transport.NewServer(h, opts...)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, l.Addr().String()
}

func echo(ctx context.Context, req *transport.Frame) *transport.Frame {
	return &transport.Frame{ContentType: req.ContentType, Body: req.Body, Meta: req.Meta}
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    transport.Frame
	}{
		{"empty request", transport.Frame{Kind: transport.KindRequest, ID: 1}},
		{"full request", transport.Frame{Kind: transport.KindRequest, ID: 1 << 40, Service: "greeter", Endpoint: "Greeter.Hello",
			ContentType: "application/json", Timeout: 150 * time.Millisecond, Meta: []string{"a", "1", "b", ""}, Body: []byte(`{"name":"x"}`)}},
		{"error response", transport.Frame{Kind: transport.KindResponse, Flags: transport.FlagRetryable, ID: 7, Code: 14, Message: "down"}},
		{"cancel", transport.Frame{Kind: transport.KindCancel, ID: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := transport.AppendFrame(nil, &tt.f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(binary.BigEndian.Uint32(b)); got != len(b)-4 {
				t.Fatalf("length prefix %d, want %d", got, len(b)-4)
			}
			var got transport.Frame
			if err := transport.ReadFrame(bufio.NewReader(bytes.NewReader(b)), &got, 0, nil); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.f) {
				t.Fatalf("got %+v\nwant %+v", got, tt.f)
			}
		})
	}
}

func TestFrameTooLargeRefusedBeforeAllocation(t *testing.T) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<30) // announces 1 GiB
	r := bufio.NewReader(bytes.NewReader(hdr[:]))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var f transport.Frame
	err := transport.ReadFrame(r, &f, 1<<20, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, transport.ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("reading an oversized header allocated %d bytes", grew)
	}
	// The sender refuses too, and the encoder leaves the buffer as it was.
	big := transport.Frame{Kind: transport.KindRequest, Body: make([]byte, 2<<20)}
	b, err := transport.AppendFrame([]byte("keep"), &big, 1<<20)
	if !errors.Is(err, transport.ErrFrameTooLarge) || string(b) != "keep" {
		t.Fatalf("AppendFrame = %q, %v; want the input unchanged and ErrFrameTooLarge", b, err)
	}
}

func TestMalformedFrames(t *testing.T) {
	tests := map[string][]byte{
		"short":             {1},
		"unknown kind":      {9, 0, 1},
		"truncated varint":  {1, 0, 0x80},
		"string past end":   {1, 0, 1, 50, 'a'},
		"huge meta count":   append([]byte{1, 0, 1, 0, 0, 0, 0, 0, 0}, binary.AppendUvarint(nil, 1<<40)...),
		"odd meta count":    {1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 'k'},
		"code out of range": append([]byte{2, 0, 1, 0, 0, 0, 0}, binary.AppendUvarint(nil, 1<<33)...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			var f transport.Frame
			if err := transport.DecodeFrame(b, &f, nil); !errors.Is(err, transport.ErrMalformedFrame) {
				t.Fatalf("err = %v, want ErrMalformedFrame", err)
			}
		})
	}
}

func TestMultiplexedConcurrentRequests(t *testing.T) {
	var maxConcurrent, cur atomic.Int64
	_, addr := startServer(t, func(ctx context.Context, req *transport.Frame) *transport.Frame {
		n := cur.Add(1)
		for {
			m := maxConcurrent.Load()
			if n <= m || maxConcurrent.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		cur.Add(-1)
		return echo(ctx, req)
	})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := transport.NewConn(nc, 0)
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				want := fmt.Sprintf("g%d-i%d", g, i)
				rsp, err := c.RoundTrip(context.Background(), &transport.Frame{Endpoint: "E", Body: []byte(want)})
				if err != nil {
					errs <- err
					return
				}
				if string(rsp.Body) != want {
					errs <- fmt.Errorf("got %q, want %q: responses crossed", rsp.Body, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if maxConcurrent.Load() < 8 {
		t.Fatalf("at most %d requests ran at once on one connection; they are not multiplexed", maxConcurrent.Load())
	}
}

func TestCancelReachesHandler(t *testing.T) {
	cancelled := make(chan error, 1)
	_, addr := startServer(t, func(ctx context.Context, req *transport.Frame) *transport.Frame {
		select {
		case <-ctx.Done():
			cancelled <- ctx.Err()
		case <-time.After(5 * time.Second):
			cancelled <- nil
		}
		return &transport.Frame{}
	})
	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()
	c, err := pool.Get(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := c.RoundTrip(ctx, &transport.Frame{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler context ended with %v, want Canceled", err)
	}
}

func TestTimeoutTravelsToHandler(t *testing.T) {
	got := make(chan time.Duration, 1)
	_, addr := startServer(t, func(ctx context.Context, req *transport.Frame) *transport.Frame {
		d, _ := ctx.Deadline()
		got <- time.Until(d)
		return &transport.Frame{}
	})
	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()
	c, err := pool.Get(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RoundTrip(context.Background(), &transport.Frame{Timeout: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("handler deadline in %v, want within (0, 300ms]", d)
	}
}

func TestConnFailureFailsPendingRequests(t *testing.T) {
	block := make(chan struct{})
	s, addr := startServer(t, func(ctx context.Context, req *transport.Frame) *transport.Frame {
		<-block
		return &transport.Frame{}
	})
	defer close(block)
	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()
	c, err := pool.Get(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.RoundTrip(context.Background(), &transport.Frame{})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	go s.Close()
	select {
	case err := <-errc:
		var te *transport.Error
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want a *transport.Error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending request not failed after the connection closed")
	}
}

func TestShutdownDrainsAndRefusesNew(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	s, addr := startServer(t, func(ctx context.Context, req *transport.Frame) *transport.Frame {
		started <- struct{}{}
		<-release
		return &transport.Frame{Body: []byte("done")}
	})
	pool := transport.NewPool(transport.NewTCP(), transport.WithPoolSize(1))
	defer pool.Close()
	c, err := pool.Get(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan *transport.Frame, 10)
	for i := 0; i < 10; i++ {
		go func() {
			rsp, err := c.RoundTrip(context.Background(), &transport.Frame{})
			if err != nil {
				t.Error(err)
			}
			results <- rsp
		}()
	}
	for i := 0; i < 10; i++ {
		<-started
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	// A request arriving now is refused with a retryable error.
	rsp, err := c.RoundTrip(context.Background(), &transport.Frame{})
	if err != nil {
		t.Fatal(err)
	}
	if rsp.Code != 14 || rsp.Flags&transport.FlagRetryable == 0 {
		t.Fatalf("request during shutdown got code %d flags %b, want 14 (unavailable) and retryable", rsp.Code, rsp.Flags)
	}
	close(release)
	for i := 0; i < 10; i++ {
		if r := <-results; r == nil || string(r.Body) != "done" {
			t.Fatalf("in-flight request %d did not complete: %+v", i, r)
		}
	}
	if err := <-shutdown; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkRoundTrip1KiB(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := transport.NewServer(echo)
	go s.Serve(l)
	defer s.Close()
	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()
	body := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := pool.Get(context.Background(), l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.RoundTrip(context.Background(), &transport.Frame{Service: "s", Endpoint: "E", Body: body}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
