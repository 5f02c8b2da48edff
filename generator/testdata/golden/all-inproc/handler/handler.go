// Package handler is the order-history service's RPC handler. Its endpoint is
// OrderHistory.Hello; add endpoints as methods of the same shape, then run
// go generate (make gen) to regenerate the typed client in handlerclient.
package handler

//go:generate micro-new gen .

import (
	"context"
	"fmt"

	"github.com/seedmicro/micro/core/errors"
)

// ServiceName is the name the service registers under.
const ServiceName = "order-history"

// HelloRequest is the request of OrderHistory.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the response of OrderHistory.Hello.
type HelloResponse struct {
	Greeting string `json:"greeting"`
}

// OrderHistory is the handler: each exported method of the form
// func(ctx, *Request, *Response) error is an endpoint.
type OrderHistory struct{}

// Hello greets req.Name; an empty name is an InvalidArgument error.
func (h *OrderHistory) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	if req.Name == "" {
		return errors.New(errors.InvalidArgument, `name is empty: send {"name": "..."}`)
	}
	rsp.Greeting = fmt.Sprintf("Hello, %s!", req.Name)
	return nil
}
