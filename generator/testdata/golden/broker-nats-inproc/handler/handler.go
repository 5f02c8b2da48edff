// Package handler is the greeter service's RPC handler. Its endpoint is
// Greeter.Hello; add endpoints as methods of the same shape, then run
// go generate (make gen) to regenerate the typed client in handlerclient.
package handler

//go:generate micro-new gen .

import (
	"context"
	"fmt"

	"github.com/seedmicro/micro/core/errors"
)

// ServiceName is the name the service registers under.
const ServiceName = "greeter"

// HelloRequest is the request of Greeter.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the response of Greeter.Hello.
type HelloResponse struct {
	Greeting string `json:"greeting"`
}

// Greeter is the handler: each exported method of the form
// func(ctx, *Request, *Response) error is an endpoint.
type Greeter struct{}

// Hello greets req.Name; an empty name is an InvalidArgument error.
func (h *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	if req.Name == "" {
		return errors.New(errors.InvalidArgument, `name is empty: send {"name": "..."}`)
	}
	rsp.Greeting = fmt.Sprintf("Hello, %s!", req.Name)
	return nil
}
