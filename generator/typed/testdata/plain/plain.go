// Package plain is a handler package that typed.Render describes without
// loading it; render_test.go checks it against Plan.
package plain

import "context"

// ServiceName is the name the service registers under.
const ServiceName = "plain"

type HelloRequest struct{ Name string }

type HelloResponse struct{ Greeting string }

type CountRequest struct{}

type CountResponse struct{ N int }

// Greeter greets.
type Greeter struct{}

// Hello greets req.Name.
//
// An empty name is an error.
func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Greeting = "Hello, " + req.Name
	return nil
}

func (g *Greeter) Count(ctx context.Context, req *CountRequest, rsp *CountResponse) error {
	rsp.N = 1
	return nil
}
