package server

import (
	"context"
	"errors"
	"io"
	"reflect"

	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/transport"
)

// MetaStream is the key, in a registry endpoint's Metadata, of the
// endpoint's stream kind: StreamServer or StreamBidi. Unary endpoints do
// not carry it.
const MetaStream = "stream"

// Stream kinds published under MetaStream.
const (
	// StreamServer: the client sends one request, the server sends any
	// number of responses.
	StreamServer = "server"
	// StreamBidi: both sides send any number of messages (client streams
	// and bidirectional streams).
	StreamBidi = "bidi"
)

// ServerStream is the sending side of a server stream: a handler method
//
//	func (h *Feed) Watch(ctx context.Context, req *WatchRequest, stream server.ServerStream[Event]) error
//
// receives the client's one request and sends any number of responses. When
// the method returns, the stream ends with its error's code (nil: a clean
// end, io.EOF at the client).
type ServerStream[T any] struct{ c *streamConn }

// Send sends one message. It waits while the client's window is full (a
// slow client slows only its own stream) and fails once the stream's
// context ended.
func (s ServerStream[T]) Send(m *T) error { return s.c.send(m) }

func (s *ServerStream[T]) bind(c *streamConn) { s.c = c }

func (ServerStream[T]) streamKind() (string, reflect.Type, reflect.Type) {
	return StreamServer, nil, reflect.TypeFor[T]()
}

// BidiStream is a stream in both directions: a handler method
//
//	func (h *Chat) Talk(ctx context.Context, stream server.BidiStream[Message, Message]) error
//
// receives messages with Recv (io.EOF once the client called CloseSend) and
// sends with Send, in any order; a client stream is one that sends once,
// after reading everything.
type BidiStream[Req, Rsp any] struct{ c *streamConn }

// Recv returns the next message from the client; io.EOF when the client
// half-closed its side.
func (s BidiStream[Req, Rsp]) Recv() (*Req, error) {
	m := new(Req)
	if err := s.c.recv(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Send sends one message to the client.
func (s BidiStream[Req, Rsp]) Send(m *Rsp) error { return s.c.send(m) }

func (s *BidiStream[Req, Rsp]) bind(c *streamConn) { s.c = c }

func (BidiStream[Req, Rsp]) streamKind() (string, reflect.Type, reflect.Type) {
	return StreamBidi, reflect.TypeFor[Req](), reflect.TypeFor[Rsp]()
}

// streamType is implemented by ServerStream and BidiStream; the reflection
// rules recognise a stream parameter by it.
type streamType interface {
	streamKind() (kind string, req, rsp reflect.Type)
}

type streamBinder interface{ bind(*streamConn) }

var streamTypeIface = reflect.TypeFor[streamType]()

// streamKindOf returns the stream kind of a parameter type, "" when it is
// not a stream.
func streamKindOf(t reflect.Type) (kind string, req, rsp reflect.Type) {
	if t.Kind() != reflect.Struct || !t.Implements(streamTypeIface) || !reflect.PointerTo(t).Implements(reflect.TypeFor[streamBinder]()) {
		return "", nil, nil
	}
	return reflect.Zero(t).Interface().(streamType).streamKind()
}

// streamConn is the typed streams' link to the transport stream.
type streamConn struct {
	ts       *transport.Stream
	endpoint string
}

func newStreamConn(ts *transport.Stream, endpoint string) *streamConn {
	return &streamConn{ts: ts, endpoint: endpoint}
}

func (c *streamConn) send(m any) error {
	if err := c.ts.SendMsg(m); err != nil {
		var ce *transport.CodecError
		if errors.As(err, &ce) {
			return merrors.Errorf(merrors.Internal, "encode %s message: %v", c.endpoint, ce.Err)
		}
		return streamError(err)
	}
	return nil
}

func (c *streamConn) recv(m any) error {
	err := c.ts.RecvMsg(m)
	if err == nil || err == io.EOF {
		return err
	}
	var ce *transport.CodecError
	if errors.As(err, &ce) {
		return merrors.Errorf(merrors.InvalidArgument, "decode %s message: %v", c.endpoint, ce.Err)
	}
	return streamError(err)
}

func streamError(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return merrors.FromContext(err)
	case errors.Is(err, transport.ErrFrameTooLarge):
		return merrors.Wrap(merrors.ResourceExhausted, err)
	case errors.Is(err, transport.ErrStreamClosed):
		return merrors.Wrap(merrors.Canceled, err)
	}
	return merrors.Wrap(merrors.Unavailable, err)
}

// serveStream runs one stream frame.
func (s *Server) serveStream(ctx context.Context, open *transport.Frame, ts *transport.Stream) *transport.Frame {
	err := s.runStream(ctx, open, ts)
	if err == nil {
		return nil
	}
	code := merrors.CodeOf(err)
	msg := err.Error()
	var e *merrors.Error
	if errors.As(err, &e) {
		msg = e.Message()
	}
	return &transport.Frame{Code: uint32(code), Message: msg}
}

func (s *Server) runStream(ctx context.Context, open *transport.Frame, ts *transport.Stream) (err error) {
	m := s.methods[open.Endpoint]
	if m == nil {
		return merrors.Errorf(merrors.Unimplemented, "service %s has no endpoint %q", s.opts.name, open.Endpoint)
	}
	if m.stream == "" {
		return merrors.Errorf(merrors.Unimplemented, "endpoint %s of service %s is unary: call it with Call, not Stream", open.Endpoint, s.opts.name)
	}
	ctx = withMeta(ctx, open.Meta)
	sc := newStreamConn(ts, open.Endpoint)
	var req any
	if m.stream == StreamServer {
		req = newValue(m.reqType)
		if err := sc.recv(req); err != nil {
			if err == io.EOF {
				return merrors.Errorf(merrors.InvalidArgument, "server stream %s needs one request message; the client sent none", open.Endpoint)
			}
			return err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.opts.logger.Error("handler panicked", "endpoint", open.Endpoint, "panic", r)
			err = merrors.Errorf(merrors.Internal, "handler %s panicked: %v", open.Endpoint, r)
		}
	}()
	_, err = s.handler(ctx, &Request{Service: open.Service, Endpoint: open.Endpoint, ContentType: open.ContentType, Body: req, Stream: m.stream, stream: sc})
	if err == nil && ctx.Err() != nil {
		return merrors.FromContext(ctx.Err())
	}
	return err
}

// callStream runs a stream method with its stream argument bound to sc.
func (m *method) callStream(ctx context.Context, req any, sc *streamConn) error {
	st := reflect.New(m.streamType)
	st.Interface().(streamBinder).bind(sc)
	args := []reflect.Value{reflect.ValueOf(&ctx).Elem()}
	if m.stream == StreamServer {
		args = append(args, reflect.ValueOf(req))
	}
	out := m.fn.Call(append(args, st.Elem()))
	if err := out[0].Interface(); err != nil {
		return err.(error)
	}
	return nil
}
