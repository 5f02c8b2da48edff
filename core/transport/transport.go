// Package transport moves frames between clients and servers: TCP by
// default, length-prefixed frames, many concurrent requests and streams
// multiplexed on one connection (each stream with its own flow-control
// window), a pool of connections per address, and a maximum frame size
// enforced before any allocation.
//
// The server bounds what slow and hostile peers can hold: a frame must
// complete within the frame timeout once its header arrived, idle
// connections are closed, connections are limited in number, and the bytes
// of frames held per connection and in reception overall are capped (see
// DefaultFrameTimeout and the constants beside it).
//
// Writes are batched: a frame is encoded into the connection's pending
// bytes under a short lock, and one system call sends what accumulated while
// the previous one was on its way (a frame on an otherwise idle connection
// is sent at once). A stream's messages cost no allocation per message in
// the transport: Stream.SendMsg encodes into a reused buffer, and
// Stream.RecvMsg decodes from a pooled buffer that it then gives back.
package transport

import (
	"context"
	"fmt"
	"net"
)

// Transport opens byte-stream connections. The default is TCP; other
// transports (unix sockets, TLS) implement the same two methods.
type Transport interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
	Listen(ctx context.Context, addr string) (net.Listener, error)
}

// TCP is the default transport.
type TCP struct {
	dialer net.Dialer
	lc     net.ListenConfig
}

var _ Transport = (*TCP)(nil)

// NewTCP returns the TCP transport.
func NewTCP() *TCP { return &TCP{} }

// Dial connects to addr ("host:port").
func (t *TCP) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return t.dialer.DialContext(ctx, "tcp", addr)
}

// Listen listens on addr ("host:port"; port 0 picks a free port).
func (t *TCP) Listen(ctx context.Context, addr string) (net.Listener, error) {
	return t.lc.Listen(ctx, "tcp", addr)
}

// Error is a failure of the connection itself (dial, write, read, closed),
// as opposed to an error that the remote handler returned. A request that
// failed with an Error may be tried again on another node.
type Error struct {
	Op   string // "dial", "write", "read"
	Addr string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("transport: %s %s: %v", e.Op, e.Addr, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
