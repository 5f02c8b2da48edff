package server

import (
	"context"
	"reflect"
)

// HealthRequest is the request of the built-in Health.Check endpoint.
type HealthRequest struct{}

// HealthResponse is the response of Health.Check.
type HealthResponse struct {
	// Status is "serving" while the server accepts requests and
	// "draining" once it is shutting down.
	Status  string `json:"status"`
	Service string `json:"service"`
	Version string `json:"version"`
	ID      string `json:"id"`
}

type health struct{ s *Server }

// Check reports whether the server is serving.
func (h *health) Check(ctx context.Context, req *HealthRequest, rsp *HealthResponse) error {
	h.s.mu.Lock()
	stopped := h.s.stopped
	h.s.mu.Unlock()
	rsp.Status = "serving"
	if stopped {
		rsp.Status = "draining"
	}
	rsp.Service, rsp.Version, rsp.ID = h.s.opts.name, h.s.opts.version, h.s.opts.id
	return nil
}

func newValue(t reflect.Type) any { return reflect.New(t).Interface() }
