// Package client is the RPC client: it looks services up through a selector,
// sends requests over multiplexed connections, carries the context's
// deadline and metadata to the server, and retries failures of the
// connection on another node. Stream opens server, client and bidirectional
// streams on the same connections.
package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/codec"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/selector"
	"github.com/seedmicro/micro/core/transport"
)

// Request is what call middleware sees.
type Request struct {
	Service  string
	Endpoint string
	// Body is the request value given to Call.
	Body any
}

// CallFunc performs a call, filling rsp.
type CallFunc func(ctx context.Context, req *Request, rsp any) error

// Middleware wraps a CallFunc. It runs once per Call, around all attempts.
type Middleware func(next CallFunc) CallFunc

// Client calls services and publishes events.
type Client struct {
	opts      options
	sel       selector.Selector
	ownsSel   bool
	pool      *transport.Pool
	budget    *budget
	call      CallFunc
	closeOnce sync.Once
}

// New returns a client configured by opts. Close it when done.
func New(opts ...Option) *Client {
	o := options{
		retries:     3,
		timeout:     10 * time.Second,
		poolSize:    2,
		maxFrame:    transport.DefaultMaxFrameSize,
		budgetRatio: 0.2,
		budgetMin:   10,
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.transport == nil {
		o.transport = transport.NewTCP()
	}
	if o.backoff == nil {
		o.backoff = defaultBackoff
	}
	c := &Client{
		opts:   o,
		pool:   transport.NewPool(o.transport, transport.WithPoolSize(o.poolSize), transport.WithMaxFrameSize(o.maxFrame)),
		budget: newBudget(o.budgetRatio, o.budgetMin),
	}
	switch {
	case o.selector != nil:
		c.sel = o.selector
	case o.registry != nil:
		c.sel = selector.New(o.registry)
		c.ownsSel = true
	}
	c.call = c.invoke
	for i := len(o.middleware) - 1; i >= 0; i-- {
		c.call = o.middleware[i](c.call)
	}
	return c
}

// Close closes the client's connections and the selector it built.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.pool.Close()
		if cl, ok := c.sel.(interface{ Close() error }); ok && c.ownsSel {
			cl.Close()
		}
	})
	return nil
}

type callOptsKey struct{}

// Call sends req to endpoint ("Type.Method") of service and decodes the
// response into rsp. The codec is proto when req is a proto.Message and
// JSON otherwise. Errors carry a code: see errors.CodeOf.
func (c *Client) Call(ctx context.Context, service, endpoint string, req, rsp any, opts ...CallOption) error {
	co := callOptions{retries: -1}
	for _, o := range opts {
		o.applyCall(&co)
	}
	if co.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, co.timeout)
		defer cancel()
	} else if _, ok := ctx.Deadline(); !ok && c.opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.timeout)
		defer cancel()
	}
	if co.address != "" || co.retries >= 0 {
		ctx = context.WithValue(ctx, callOptsKey{}, &co)
	}
	return c.call(ctx, &Request{Service: service, Endpoint: endpoint, Body: req}, rsp)
}

// invoke is the innermost CallFunc: select, send, retry.
func (c *Client) invoke(ctx context.Context, req *Request, rsp any) error {
	co, _ := ctx.Value(callOptsKey{}).(*callOptions)
	retries := c.opts.retries
	if co != nil && co.retries >= 0 {
		retries = co.retries
	}
	cd := codec.For(req.Body)
	body, err := cd.Marshal(req.Body)
	if err != nil {
		return merrors.Errorf(merrors.InvalidArgument, "encode request for %s.%s: %v", req.Service, req.Endpoint, err)
	}
	f := &transport.Frame{Service: req.Service, Endpoint: req.Endpoint, ContentType: cd.Name(), Body: body}
	if md, ok := metadata.FromContext(ctx); ok && len(md) > 0 {
		f.Meta = make([]string, 0, 2*len(md))
		for k, v := range md {
			f.Meta = append(f.Meta, k, v)
		}
	}

	var next selector.Next
	if co != nil && co.address != "" {
		node := &registry.Node{ID: co.address, Address: co.address}
		next = func() (*registry.Node, error) { return node, nil }
	} else {
		if c.sel == nil {
			return merrors.Errorf(merrors.FailedPrecondition, "call %s.%s: the client has no registry or selector; create it with client.WithRegistry or pass client.WithAddress", req.Service, req.Endpoint)
		}
		if next, err = c.sel.Select(ctx, req.Service); err != nil {
			return selectError(req, err)
		}
	}
	c.budget.deposit()
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, c.opts.backoff(attempt)); err != nil {
				return merrors.Errorf(merrors.CodeOf(err), "call %s.%s: %v after %d attempts, last error: %v", req.Service, req.Endpoint, err, attempt, lastErr)
			}
		}
		node, err := next()
		if err != nil {
			if lastErr == nil {
				return selectError(req, err)
			}
			// Every node was tried once: start over, the failed nodes
			// may have recovered and others may have joined.
			if c.sel == nil || co != nil && co.address != "" {
				return lastErr
			}
			if next, err = c.sel.Select(ctx, req.Service); err != nil {
				return lastErr
			}
			if node, err = next(); err != nil {
				return lastErr
			}
		}
		err = c.attempt(ctx, node.Address, f, rsp)
		if err == nil {
			return nil
		}
		var te *transport.Error
		isTransport := errors.As(err, &te)
		if isTransport && c.sel != nil {
			c.sel.Mark(req.Service, node, err)
		}
		if ctx.Err() != nil {
			return merrors.FromContext(ctx.Err())
		}
		if !(isTransport || errors.Is(err, errRetryable) || c.opts.retryOn[merrors.CodeOf(err)]) {
			return err
		}
		if isTransport {
			err = merrors.Errorf(merrors.Unavailable, "call %s.%s on %s: %v", req.Service, req.Endpoint, node.Address, err)
		}
		lastErr = err
		if attempt >= retries || !c.budget.withdraw() {
			return lastErr
		}
	}
}

func selectError(req *Request, err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return merrors.Errorf(merrors.NotFound, "call %s.%s: service %q not found: is it running and registered in the same registry?", req.Service, req.Endpoint, req.Service)
	}
	if errors.Is(err, selector.ErrNoneAvailable) {
		return merrors.Errorf(merrors.Unavailable, "call %s.%s: no node of service %q is available: %v", req.Service, req.Endpoint, req.Service, err)
	}
	if c := merrors.CodeOf(err); c == merrors.DeadlineExceeded || c == merrors.Canceled {
		return merrors.FromContext(err)
	}
	return merrors.Errorf(merrors.Unavailable, "call %s.%s: look up service %q: %v", req.Service, req.Endpoint, req.Service, err)
}

// errRetryable marks server errors produced before the handler ran.
var errRetryable = errors.New("retryable")

type retryableError struct{ err *merrors.Error }

func (e retryableError) Error() string        { return e.err.Error() }
func (e retryableError) Is(target error) bool { return target == errRetryable }
func (e retryableError) Unwrap() error        { return e.err }

func (c *Client) attempt(ctx context.Context, addr string, f *transport.Frame, rsp any) error {
	conn, err := c.pool.Get(ctx, addr)
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		f.Timeout = time.Until(d)
		if f.Timeout <= 0 {
			return merrors.FromContext(context.DeadlineExceeded)
		}
	}
	r, err := conn.RoundTrip(ctx, f)
	if err != nil {
		if ctx.Err() != nil {
			return merrors.FromContext(ctx.Err())
		}
		if errors.Is(err, transport.ErrFrameTooLarge) {
			return merrors.Wrap(merrors.ResourceExhausted, err)
		}
		return err
	}
	if r.Code != 0 {
		e := merrors.New(merrors.Code(r.Code), r.Message)
		if r.Flags&transport.FlagRetryable != 0 {
			return retryableError{e}
		}
		return e
	}
	if rsp == nil {
		return nil
	}
	cd, err := codec.ByName(r.ContentType)
	if err != nil {
		return merrors.Wrap(merrors.Internal, err)
	}
	if err := cd.Unmarshal(r.Body, rsp); err != nil {
		return merrors.Errorf(merrors.Internal, "decode response of %s.%s into %T: %v", f.Service, f.Endpoint, rsp, err)
	}
	return nil
}

// Publish encodes msg (proto for a proto.Message, JSON otherwise) and
// publishes it on topic through the client's broker. Metadata in ctx
// travels as message headers.
func (c *Client) Publish(ctx context.Context, topic string, msg any) error {
	if c.opts.broker == nil {
		return merrors.Errorf(merrors.FailedPrecondition, "publish to %q: the client has no broker; create it with client.WithBroker", topic)
	}
	cd := codec.For(msg)
	body, err := cd.Marshal(msg)
	if err != nil {
		return merrors.Errorf(merrors.InvalidArgument, "encode event for %q: %v", topic, err)
	}
	h := map[string]string{"Content-Type": cd.Name()}
	if md, ok := metadata.FromContext(ctx); ok {
		for k, v := range md {
			if _, set := h[k]; !set {
				h[k] = v
			}
		}
	}
	if err := c.opts.broker.Publish(ctx, topic, &broker.Message{Header: h, Body: body}); err != nil {
		return fmt.Errorf("publish to %q: %w", topic, err)
	}
	return nil
}

// defaultPolicy is exponential from 2ms, capped at 500ms, each wait drawn
// between half of it and all of it.
var defaultPolicy = backoff.Policy{Initial: 2 * time.Millisecond, Max: 500 * time.Millisecond, Multiplier: 2, Jitter: 0.5}

func defaultBackoff(attempt int) time.Duration { return defaultPolicy.Delay(attempt) }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
