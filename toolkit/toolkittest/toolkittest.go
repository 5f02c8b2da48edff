// Package toolkittest is a small service that the toolkit's tests and its
// gateway benchmark run in process: Greeter.Hello, Greeter.Echo,
// Greeter.Slow, Greeter.Meta and Say.Hello.
package toolkittest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/seedmicro/micro/core/broker"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/server"
)

// HelloRequest is the request of Greeter.Hello and Say.Hello.
type HelloRequest struct {
	Name  string `json:"name"`
	Times int    `json:"times,omitempty"`
}

// HelloResponse is their response.
type HelloResponse struct {
	Greeting string `json:"greeting"`
}

// EchoMessage is the request and response of Greeter.Echo.
type EchoMessage struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// SlowRequest asks Greeter.Slow to wait.
type SlowRequest struct {
	Wait string `json:"wait"`
}

// MetaResponse carries the metadata Greeter.Meta received.
type MetaResponse struct {
	Metadata map[string]string `json:"metadata"`
	Deadline bool              `json:"deadline"`
}

// Greeter is the main handler.
type Greeter struct{}

// Hello greets; an empty name is InvalidArgument, "missing" is NotFound.
func (Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	switch req.Name {
	case "":
		return merrors.New(merrors.InvalidArgument, "name is empty")
	case "missing":
		return merrors.New(merrors.NotFound, "no such person: missing")
	}
	rsp.Greeting = "Hello, " + req.Name + "!"
	return nil
}

// Echo returns its request.
func (Greeter) Echo(ctx context.Context, req *EchoMessage, rsp *EchoMessage) error {
	*rsp = *req
	return nil
}

// Slow waits for req.Wait or until the context ends.
func (Greeter) Slow(ctx context.Context, req *SlowRequest, rsp *HelloResponse) error {
	d, err := time.ParseDuration(req.Wait)
	if err != nil {
		return merrors.Errorf(merrors.InvalidArgument, "wait: %v", err)
	}
	select {
	case <-time.After(d):
		rsp.Greeting = "waited " + d.String()
		return nil
	case <-ctx.Done():
		return merrors.FromContext(ctx.Err())
	}
}

// Meta returns the request's metadata.
func (Greeter) Meta(ctx context.Context, req *HelloRequest, rsp *MetaResponse) error {
	md, _ := metadata.FromContext(ctx)
	rsp.Metadata = map[string]string(md)
	_, rsp.Deadline = ctx.Deadline()
	return nil
}

// Say is a second handler type of the same service.
type Say struct{}

// Hello says hello.
func (Say) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Greeting = "Say hello to " + req.Name
	return nil
}

// Start starts the service name on reg (and b, when not nil, for the
// subscriber of topic "greeter.greeted" whose events go to events) and
// returns its server; stop it with Stop.
func Start(ctx context.Context, reg registry.Registry, name string, b broker.Broker, events chan<- *HelloRequest) (*server.Server, error) {
	opts := []server.Option{
		server.WithName(name), server.WithVersion("1.0.0"), server.WithRegistry(reg),
		server.WithAddress("127.0.0.1:0"), server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		server.WithGracePeriod(time.Second),
	}
	if b != nil {
		opts = append(opts, server.WithBroker(b))
	}
	s := server.New(opts...)
	if err := s.Handle(Greeter{}); err != nil {
		return nil, err
	}
	if err := s.Handle(Say{}); err != nil {
		return nil, err
	}
	if b != nil && events != nil {
		if err := s.Subscribe("greeter.greeted", func(ctx context.Context, ev *HelloRequest) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}); err != nil {
			return nil, err
		}
	}
	if err := s.Start(ctx); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return s, nil
}
