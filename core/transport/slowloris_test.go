package transport_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/transport"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// slowloris opens a connection to addr that announces a frame of size
// bytes, sends part of it and then nothing.
func slowloris(t *testing.T, addr string, size, part int) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	b := make([]byte, 4+part)
	binary.BigEndian.PutUint32(b, uint32(size))
	b[4] = byte(transport.KindRequest)
	go func() {
		// The server may stop reading; the write then blocks until the
		// deadline, which is what a slowloris peer looks like.
		nc.SetWriteDeadline(time.Now().Add(3 * time.Second))
		nc.Write(b)
	}()
	return nc
}

// TestSlowlorisOnTheServicePort is issue 12 item 5: 200 connections each
// sending part of a 4 MiB frame and then nothing must not hold the server's
// memory (< 64 MiB over the baseline, with the default limits), and normal
// calls keep succeeding meanwhile.
func TestSlowlorisOnTheServicePort(t *testing.T) {
	_, addr := startServer(t, echo)
	pool := transport.NewPool(transport.NewTCP())
	defer pool.Close()
	call := func() error {
		c, err := pool.Get(context.Background(), addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = c.RoundTrip(ctx, &transport.Frame{Endpoint: "E", Body: []byte("ping")})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	base := heapInUse()

	const conns, size, part = 200, transport.DefaultMaxFrameSize, 256 << 10
	var attackers []net.Conn
	defer func() {
		for _, c := range attackers {
			c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		attackers = append(attackers, slowloris(t, addr, size, part))
	}

	// Normal calls keep succeeding while the attack goes on.
	var calls, failed int
	var firstErr error
	until := time.Now().Add(time.Second)
	for time.Now().Before(until) {
		calls++
		if err := call(); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d calls failed during the attack, first: %v", failed, calls, firstErr)
	}
	grew := int64(heapInUse()) - int64(base)
	t.Logf("heap grew by %d MiB with %d slowloris connections; %d calls meanwhile", grew>>20, conns, calls)
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MiB with %d slowloris connections, want < 64 MiB", grew>>20, conns)
	}
}

// closedWithin reports whether the server closed nc within d.
func closedWithin(nc net.Conn, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	for {
		if _, err := nc.Read(b[:]); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func TestSlowPeerDefences(t *testing.T) {
	t.Run("a partial frame is cut off at the frame timeout", func(t *testing.T) {
		_, addr := startServer(t, echo, transport.WithFrameTimeout(200*time.Millisecond))
		nc := slowloris(t, addr, 1<<20, 1000)
		defer nc.Close()
		start := time.Now()
		if !closedWithin(nc, 3*time.Second) {
			t.Fatal("connection with a partial frame still open 3s later; frame timeout 200ms")
		}
		t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
	})
	t.Run("an idle connection is closed at the idle timeout", func(t *testing.T) {
		_, addr := startServer(t, echo, transport.WithIdleTimeout(200*time.Millisecond))
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if !closedWithin(nc, 3*time.Second) {
			t.Fatal("idle connection still open 3s later; idle timeout 200ms")
		}
	})
	t.Run("a connection with a request in progress is not idle", func(t *testing.T) {
		_, addr := startServer(t, func(ctx context.Context, req *transport.Frame) *transport.Frame {
			time.Sleep(600 * time.Millisecond)
			return echo(ctx, req)
		}, transport.WithIdleTimeout(100*time.Millisecond))
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := transport.NewConn(nc, 0)
		defer c.Close()
		if _, err := c.RoundTrip(context.Background(), &transport.Frame{Body: []byte("slow")}); err != nil {
			t.Fatalf("request slower than the idle timeout failed: %v", err)
		}
	})
	t.Run("connections past the limit are refused, the others served", func(t *testing.T) {
		_, addr := startServer(t, echo, transport.WithMaxConns(2))
		var conns []*transport.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < 2; i++ {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := transport.NewConn(nc, 0)
			conns = append(conns, c)
			if _, err := c.RoundTrip(context.Background(), &transport.Frame{}); err != nil {
				t.Fatalf("connection %d within the limit: %v", i, err)
			}
		}
		extra, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer extra.Close()
		if !closedWithin(extra, 3*time.Second) {
			t.Fatal("third connection with a limit of 2 was not closed")
		}
		if _, err := conns[0].RoundTrip(context.Background(), &transport.Frame{}); err != nil {
			t.Fatalf("connection within the limit after a refusal: %v", err)
		}
	})
	t.Run("a large frame waits for the buffer limit, then completes", func(t *testing.T) {
		_, addr := startServer(t, echo, transport.WithBufferLimit(256<<10), transport.WithFrameTimeout(5*time.Second))
		// The hog holds most of the limit and keeps its connection
		// waiting for the rest of its frame.
		hog := slowloris(t, addr, 4<<20, 150<<10)
		time.AfterFunc(300*time.Millisecond, func() { hog.Close() })
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := transport.NewConn(nc, 0)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		body := make([]byte, 1<<20)
		rsp, err := c.RoundTrip(ctx, &transport.Frame{Body: body})
		if err != nil {
			t.Fatalf("1 MiB request behind a peer holding the buffer limit: %v", err)
		}
		if len(rsp.Body) != len(body) {
			t.Fatalf("echoed %d bytes, want %d", len(rsp.Body), len(body))
		}
	})
}
