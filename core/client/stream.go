package client

import (
	"context"
	"errors"
	"io"
	"time"

	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/selector"
	"github.com/seedmicro/micro/core/transport"
)

// Stream is an open stream to one node of a service: Send messages, Recv
// messages, CloseSend to say no more will be sent, Close to abandon it.
// Send and Recv may run concurrently with each other, but neither
// concurrently with itself.
//
// Recv returns io.EOF when the server ended the stream cleanly, and the
// handler's error, with its code, after the last message otherwise. The
// stream ends when its context ends (the handler's context ends too). A
// node lost mid-stream surfaces as an Unavailable error from Send and Recv:
// streams are never retried, since part of the conversation already took
// place.
type Stream struct {
	ts       *transport.Stream
	service  string
	endpoint string
	addr     string
	cancel   context.CancelFunc
}

// Stream opens a stream to endpoint ("Type.Method") of service, which must
// be a stream endpoint (a handler taking server.ServerStream or
// server.BidiStream). For a server stream, Send the one request, then
// CloseSend, then Recv until io.EOF.
//
// The context's deadline and cancellation end the stream on both sides;
// unlike Call, no default timeout applies, since streams are often long.
// WithAddress and WithCallTimeout apply; a failure to connect is tried on
// another node (within WithCallRetries), never once the stream is open.
// Close the stream, or cancel its context, to release it.
func (c *Client) Stream(ctx context.Context, service, endpoint string, opts ...CallOption) (*Stream, error) {
	co := callOptions{retries: -1}
	for _, o := range opts {
		o.applyCall(&co)
	}
	var cancel context.CancelFunc
	if co.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, co.timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	s, err := c.openStream(ctx, service, endpoint, &co)
	if err != nil {
		cancel()
		return nil, err
	}
	s.cancel = cancel
	return s, nil
}

func (c *Client) openStream(ctx context.Context, service, endpoint string, co *callOptions) (*Stream, error) {
	req := &Request{Service: service, Endpoint: endpoint}
	retries := c.opts.retries
	if co.retries >= 0 {
		retries = co.retries
	}
	var next selector.Next
	var err error
	if co.address != "" {
		node := &registry.Node{ID: co.address, Address: co.address}
		next = func() (*registry.Node, error) { return node, nil }
	} else {
		if c.sel == nil {
			return nil, merrors.Errorf(merrors.FailedPrecondition, "stream %s.%s: the client has no registry or selector; create it with client.WithRegistry or pass client.WithAddress", service, endpoint)
		}
		if next, err = c.sel.Select(ctx, service); err != nil {
			return nil, selectError(req, err)
		}
	}
	open := &transport.Frame{Service: service, Endpoint: endpoint}
	if md, ok := metadata.FromContext(ctx); ok && len(md) > 0 {
		open.Meta = make([]string, 0, 2*len(md))
		for k, v := range md {
			open.Meta = append(open.Meta, k, v)
		}
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, c.opts.backoff(attempt)); err != nil {
				return nil, merrors.FromContext(err)
			}
		}
		node, err := next()
		if err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, selectError(req, err)
		}
		conn, err := c.pool.Get(ctx, node.Address)
		if err == nil {
			if d, ok := ctx.Deadline(); ok {
				if open.Timeout = time.Until(d); open.Timeout <= 0 {
					return nil, merrors.FromContext(context.DeadlineExceeded)
				}
			}
			var ts *transport.Stream
			if ts, err = conn.OpenStream(ctx, open); err == nil {
				return &Stream{ts: ts, service: service, endpoint: endpoint, addr: node.Address}, nil
			}
		}
		if ctx.Err() != nil {
			return nil, merrors.FromContext(ctx.Err())
		}
		var te *transport.Error
		if !errors.As(err, &te) {
			return nil, merrors.Wrap(merrors.ResourceExhausted, err)
		}
		if c.sel != nil && co.address == "" {
			c.sel.Mark(service, node, err)
		}
		lastErr = merrors.Errorf(merrors.Unavailable, "stream %s.%s on %s: %v", service, endpoint, node.Address, err)
		if attempt >= retries || !c.budget.withdraw() {
			return nil, lastErr
		}
	}
}

// Send sends one message, encoded as proto when it is a proto.Message and
// as JSON otherwise. It waits while the server's window is full. Once the
// server ended the stream it returns io.EOF; Recv then returns why.
func (s *Stream) Send(msg any) error {
	if err := s.ts.SendMsg(msg); err != nil {
		var ce *transport.CodecError
		switch {
		case err == io.EOF:
			return io.EOF
		case errors.As(err, &ce):
			return merrors.Errorf(merrors.InvalidArgument, "encode message for %s.%s: %v", s.service, s.endpoint, ce.Err)
		}
		return s.error(err)
	}
	return nil
}

// Recv receives the next message into msg. It returns io.EOF when the
// server ended the stream cleanly and the handler's error (see
// errors.CodeOf) when it ended with one, after every message sent before.
func (s *Stream) Recv(msg any) error {
	err := s.ts.RecvMsg(msg)
	if err == nil {
		return nil
	}
	var st *transport.StatusError
	var ce *transport.CodecError
	switch {
	case err == io.EOF:
		s.release()
		return io.EOF
	case errors.As(err, &ce):
		return merrors.Errorf(merrors.Internal, "decode message of %s.%s into %T: %v", s.service, s.endpoint, msg, ce.Err)
	case errors.As(err, &st):
		s.release()
	}
	return s.error(err)
}

// CloseSend tells the server that no more messages follow; the server's
// Recv returns io.EOF. Receiving goes on.
func (s *Stream) CloseSend() error {
	if err := s.ts.CloseSend(); err != nil {
		return s.error(err)
	}
	return nil
}

// Close abandons the stream: unless it already ended, the server's handler
// sees its context cancelled. It is safe to call more than once, and after
// the stream ended.
func (s *Stream) Close() error {
	s.ts.Close()
	s.release()
	return nil
}

func (s *Stream) release() {
	if s.cancel != nil {
		s.cancel()
	}
}

// error turns a transport-level failure into an error with a code.
func (s *Stream) error(err error) error {
	var st *transport.StatusError
	var te *transport.Error
	switch {
	case errors.As(err, &st):
		return merrors.New(merrors.Code(st.Code), st.Message)
	case errors.As(err, &te):
		return merrors.Errorf(merrors.Unavailable, "stream %s.%s on %s: %v", s.service, s.endpoint, s.addr, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return merrors.FromContext(err)
	case errors.Is(err, transport.ErrStreamClosed):
		return merrors.Errorf(merrors.Canceled, "stream %s.%s: %v", s.service, s.endpoint, err)
	case errors.Is(err, transport.ErrFrameTooLarge):
		return merrors.Wrap(merrors.ResourceExhausted, err)
	}
	return merrors.Wrap(merrors.Unknown, err)
}
