// Package badstream has methods that take server stream types without the
// shape of a stream endpoint; typed reports each.
package badstream

import (
	"context"

	"github.com/seedmicro/micro/core/server"
)

type Req struct{}
type Rsp struct{}

// S has one good endpoint of each stream kind, and bad ones.
type S struct{}

func (S) Watch(ctx context.Context, req *Req, s server.ServerStream[Rsp]) error { return nil }
func (S) Talk(ctx context.Context, s server.BidiStream[Req, Rsp]) error         { return nil }
func (S) Pointer(ctx context.Context, req *Req, s *server.ServerStream[Rsp]) error {
	return nil
}
func (S) NoRequest(ctx context.Context, s server.ServerStream[Rsp]) error { return nil }
func (S) BidiRequest(ctx context.Context, req *Req, s server.BidiStream[Req, Rsp]) error {
	return nil
}
func (S) ValueRequest(ctx context.Context, req Req, s server.ServerStream[Rsp]) error { return nil }
func (S) NoContext(req *Req, s server.ServerStream[Rsp]) error                        { return nil }
func (S) Results(ctx context.Context, s server.BidiStream[Req, Rsp]) (int, error)     { return 0, nil }
func (S) Hidden(ctx context.Context, s server.BidiStream[Req, hidden]) error          { return nil }

type hidden struct{}

// Only has no good endpoint: its bad stream method is reported all the same.
type Only struct{}

func (Only) Watch(ctx context.Context, s *server.BidiStream[Req, Rsp]) error { return nil }
