package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/transport"
)

func FuzzReadFrame(f *testing.F) {
	for _, fr := range []transport.Frame{
		{Kind: transport.KindRequest, ID: 1, Service: "s", Endpoint: "T.M", ContentType: "application/json", Timeout: 5, Meta: []string{"k", "v"}, Body: []byte("{}")},
		{Kind: transport.KindResponse, ID: 2, Code: 5, Message: "not found"},
		{Kind: transport.KindCancel, ID: 3},
	} {
		b, err := transport.AppendFrame(nil, &fr, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var in transport.Interner
		for {
			var fr transport.Frame
			err := transport.ReadFrame(r, &fr, limit, &in)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, transport.ErrMalformedFrame) && !errors.Is(err, transport.ErrFrameTooLarge) {
					t.Fatalf("unexpected error class: %v", err)
				}
				return
			}
			if len(fr.Body) > limit {
				t.Fatalf("body of %d bytes past the %d limit", len(fr.Body), limit)
			}
			// What decodes must encode back to a frame that decodes the same.
			b, err := transport.AppendFrame(nil, &fr, limit)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			var again transport.Frame
			if err := transport.ReadFrame(bufio.NewReader(bytes.NewReader(b)), &again, limit, nil); err != nil {
				t.Fatalf("decode of re-encoded frame: %v", err)
			}
			if fmt.Sprint(again) != fmt.Sprint(fr) {
				t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, again)
			}
		}
	})
}

// pipeListener hands out in-memory connections, one per Dial.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial() net.Conn {
	a, b := net.Pipe()
	select {
	case l.conns <- b:
	case <-l.done:
	}
	return a
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// FuzzServerPartialFrames sends arbitrary bytes, in two writes, to a server
// and then nothing: whatever they are (whole frames, a partial header, a
// frame cut short, garbage), the server must neither crash nor hold the
// connection past its frame or idle timeout, and must close cleanly.
func FuzzServerPartialFrames(f *testing.F) {
	req, _ := transport.AppendFrame(nil, &transport.Frame{Kind: transport.KindRequest, ID: 1, Endpoint: "E", Body: []byte("hi")}, 0)
	f.Add(req, 3)
	f.Add(req[:len(req)-1], 5)
	f.Add(req[:2], 1)
	f.Add(append(append([]byte{}, req...), 0, 0, 0x10, 0), 0)
	f.Add([]byte{0, 0x40, 0, 0, byte(transport.KindRequest), 0, 1}, 6)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		fuzzServer(t, nil, data, split)
	})
}

// fuzzServer writes prefix, then data in two writes, to a fresh server and
// then nothing. The server must not crash and must close the connection
// within its 20ms frame and idle timeouts (streams end within 20ms too).
func fuzzServer(t *testing.T, prefix, data []byte, split int) {
	t.Helper()
	streams := func(ctx context.Context, open *transport.Frame, st *transport.Stream) *transport.Frame {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		go func() { <-ctx.Done(); st.Close() }()
		for {
			f, err := st.Recv()
			if err != nil {
				return nil
			}
			if err := st.Send(&transport.Frame{Body: f.Body}); err != nil {
				return &transport.Frame{Code: 1, Message: err.Error()}
			}
		}
	}
	s := transport.NewServer(echo, transport.WithServerMaxFrameSize(1<<16), transport.WithStreamHandler(streams),
		transport.WithFrameTimeout(20*time.Millisecond), transport.WithIdleTimeout(20*time.Millisecond))
	l := newPipeListener()
	served := make(chan struct{})
	go func() { defer close(served); s.Serve(l) }()
	defer func() { s.Close(); <-served }()
	c := l.dial()
	defer c.Close()
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c) // responses, until the server closes
		closed <- err
	}()
	if split < 0 || split > len(data) {
		split = len(data) / 2
	}
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(prefix); err == nil {
		if _, err := c.Write(data[:split]); err == nil {
			c.Write(data[split:])
		}
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatalf("server still holds the connection 2s after %d bytes, with 20ms frame and idle timeouts", len(data))
	}
}

// FuzzStreamFrames opens stream 1 and then sends arbitrary bytes: stream
// frames (data, end, window grants, cancels) well or badly formed, for that
// stream or others, cut anywhere.
func FuzzStreamFrames(f *testing.F) {
	open, _ := transport.AppendFrame(nil, &transport.Frame{Kind: transport.KindStream, ID: 1, Endpoint: "S"}, 0)
	var seq []byte
	for _, fr := range []transport.Frame{
		{Kind: transport.KindData, ID: 1, ContentType: "application/json", Body: []byte("{}")},
		{Kind: transport.KindWindow, ID: 1, Body: []byte{0x80, 0x80, 0x04}},
		{Kind: transport.KindEnd, ID: 1},
		{Kind: transport.KindCancel, ID: 1},
	} {
		seq, _ = transport.AppendFrame(seq, &fr, 0)
		f.Add(append([]byte{}, seq...), len(seq)/2)
	}
	f.Add([]byte{0, 0, 0, 3, byte(transport.KindWindow), 0, 1}, 2)
	f.Add([]byte{0, 0, 0, 5, byte(transport.KindWindow), 0, 1, 0xff, 0xff}, 0)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		fuzzServer(t, open, data, split)
	})
}
