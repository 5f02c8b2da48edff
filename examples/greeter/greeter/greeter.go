// Package greeter is the example service: one handler, one event type and
// the subscriber that counts events. Callers use its typed client, package
// greeterclient, which micro-new gen writes from it.
package greeter

//go:generate go run github.com/seedmicro/micro/cmd/micro-new gen .

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/seedmicro/micro/core/errors"
)

// ServiceName is the name the service registers under.
const ServiceName = "greeter"

// TopicGreeted is the topic of Greeted events.
const TopicGreeted = "greeter.greeted"

// HelloRequest is the request of Greeter.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the response of Greeter.Hello.
type HelloResponse struct {
	Greeting string `json:"greeting"`
}

// Greeted is the event published after a greeting.
type Greeted struct {
	Name string `json:"name"`
}

// Greeter is the handler: its endpoint is Greeter.Hello.
type Greeter struct {
	Log    *slog.Logger
	events atomic.Int64
}

// Hello greets req.Name; an empty name is an InvalidArgument error.
func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	if req.Name == "" {
		return errors.New(errors.InvalidArgument, "name is empty: send {\"name\": \"...\"}")
	}
	rsp.Greeting = fmt.Sprintf("Hello, %s!", req.Name)
	return nil
}

// OnGreeted is the subscriber for TopicGreeted.
//
//micro:subscribe TopicGreeted
func (g *Greeter) OnGreeted(ctx context.Context, ev *Greeted) error {
	n := g.events.Add(1)
	g.Log.Info("event received", "topic", TopicGreeted, "name", ev.Name, "total", n)
	return nil
}

// Events returns how many Greeted events the subscriber handled.
func (g *Greeter) Events() int64 { return g.events.Load() }
