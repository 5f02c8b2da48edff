package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/seedmicro/micro/core/codec"
	"github.com/seedmicro/micro/core/transport"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoMsgs sends back every message with SendMsg after RecvMsg, so that
// both ends run on pooled buffers.
func echoMsgs(ctx context.Context, open *transport.Frame, s *transport.Stream) *transport.Frame {
	var m wrapperspb.BytesValue
	for {
		err := s.RecvMsg(&m)
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = s.SendMsg(&m)
		}
		if err != nil {
			return &transport.Frame{Code: 1, Message: err.Error()}
		}
	}
}

func openEcho(t *testing.T) *transport.Stream {
	t.Helper()
	_, addr := startServer(t, echo, transport.WithStreamHandler(echoMsgs))
	c := dialConn(t, addr)
	s, err := c.OpenStream(context.Background(), &transport.Frame{Endpoint: "Echo"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Messages received into reused buffers keep their own contents: sizes
// across the buffer classes (and past the largest), each message filled
// with its own byte, many in flight at once.
func TestStreamMessagesKeepTheirContents(t *testing.T) {
	leakCheck(t)
	s := openEcho(t)
	sizes := []int{0, 1, 255, 256, 257, 1000, 4096, 5000, 65000, 70 << 10, 300 << 10, 3}
	const rounds = 20
	sent := make(chan []byte, rounds*len(sizes))
	errc := make(chan error, 1)
	go func() {
		for r := 0; r < rounds; r++ {
			for i, n := range sizes {
				b := bytes.Repeat([]byte{byte(r*len(sizes) + i)}, n)
				sent <- b
				if err := s.SendMsg(wrapperspb.Bytes(b)); err != nil {
					errc <- err
					return
				}
			}
		}
		errc <- s.CloseSend()
	}()
	var m wrapperspb.BytesValue
	for k := 0; k < rounds*len(sizes); k++ {
		if err := s.RecvMsg(&m); err != nil {
			t.Fatalf("message %d: %v", k, err)
		}
		if want := <-sent; !bytes.Equal(m.Value, want) {
			t.Fatalf("message %d: %d bytes, want %d bytes of %d", k, len(m.Value), len(want), want[:min(1, len(want))])
		}
	}
	if err := s.RecvMsg(&m); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// A value that does not encode, or a message that does not decode, is a
// *CodecError; the stream goes on.
func TestStreamMessageCodecErrors(t *testing.T) {
	leakCheck(t)
	s := openEcho(t)
	err := s.SendMsg(map[string]any{"ch": make(chan int)})
	var ce *transport.CodecError
	if !errors.As(err, &ce) || ce.Op != "encode" {
		t.Fatalf("SendMsg of a channel: %v, want a *CodecError of encode", err)
	}
	if err := s.SendMsg(wrapperspb.Bytes([]byte("after"))); err != nil {
		t.Fatal(err)
	}
	var m wrapperspb.BytesValue
	if err := s.RecvMsg(&m); err != nil || string(m.Value) != "after" {
		t.Fatalf("stream after a value that did not encode: %q, %v", m.Value, err)
	}
	// A message in a content type no codec reads.
	if err := s.Send(&transport.Frame{ContentType: "text/xml", Body: []byte("<x/>")}); err != nil {
		t.Fatal(err)
	}
	// The server's RecvMsg fails and ends the stream with the error.
	err = s.RecvMsg(&m)
	var st *transport.StatusError
	if !errors.As(err, &st) || st.Code != 1 {
		t.Fatalf("server's status after a message in text/xml: %v", err)
	}
	_, addr := startServer(t, echo, transport.WithStreamHandler(func(ctx context.Context, open *transport.Frame, s *transport.Stream) *transport.Frame {
		_ = s.Send(&transport.Frame{ContentType: codec.ProtoName, Body: []byte{0xff}})
		return nil
	}))
	bad, err := dialConn(t, addr).OpenStream(context.Background(), &transport.Frame{Endpoint: "Bad"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.RecvMsg(&m); !errors.As(err, &ce) || ce.Op != "decode" {
		t.Fatalf("RecvMsg of a malformed proto message: %v, want a *CodecError of decode", err)
	}
	if err := bad.RecvMsg(&m); err != io.EOF {
		t.Fatalf("after the malformed message: %v, want io.EOF", err)
	}
}

// A steady stream allocates nothing per message for its frames, on either
// end: what remains is the decoded value's own bytes (one allocation).
func TestStreamMessagesReuseBuffers(t *testing.T) {
	leakCheck(t)
	s := openEcho(t)
	msg := wrapperspb.Bytes(make([]byte, 1024))
	var m wrapperspb.BytesValue
	roundTrip := func() {
		if err := s.SendMsg(msg); err != nil {
			t.Fatal(err)
		}
		if err := s.RecvMsg(&m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		roundTrip()
	}
	const n = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	// Each round trip decodes twice (server and client): 2 allocations,
	// where it took 8 before buffers were reused. The bound leaves room
	// for pools emptied by garbage collections, and under the race
	// detector for the pools' dropping of a quarter of what they are given
	// (3 pooled objects per message).
	limit := 3.0
	if raceEnabled {
		limit = 6
	}
	perTrip := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.2f allocations per round trip", perTrip)
	if perTrip > limit {
		t.Fatalf("%.2f allocations per echo round trip, want at most %.0f (2 for the decoded values)", perTrip, limit)
	}
}
