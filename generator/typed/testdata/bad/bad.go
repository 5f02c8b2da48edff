// Package bad has methods that look meant as endpoints or subscribers but
// are not; the generator reports each with its position and reason.
package bad

import "context"

type Req struct{}
type Rsp struct{}
type hidden struct{}

type H struct{}

func (H) Good(ctx context.Context, req *Req, rsp *Rsp) error              { return nil }
func (H) ValueRequest(ctx context.Context, req Req, rsp *Rsp) error       { return nil }
func (H) ValueResponse(ctx context.Context, req *Req, rsp Rsp) error      { return nil }
func (H) NoContext(req *Req, rsp *Rsp) error                              { return nil }
func (H) TwoResults(ctx context.Context, req *Req, rsp *Rsp) (int, error) { return 0, nil }
func (H) Unexported(ctx context.Context, req *hidden, rsp *Rsp) error     { return nil }
func (H) Subscriberish(ctx context.Context, ev *Req) error                { return nil }
func (H) Variadic(ctx context.Context, req *Req, rsp ...*Rsp) error       { return nil }
func (H) Ignored() int                                                    { return 0 }

// WrongSubscriber has a directive but the wrong shape.
//
//micro:subscribe "bad.topic"
func (H) WrongSubscriber(ctx context.Context, ev Req) error { return nil }

// UnknownTopic names no constant.
//
//micro:subscribe NoSuchConstant
func UnknownTopic(ctx context.Context, ev *Req) error { return nil }

// NotAHandler has no endpoint, so its methods are not reported.
type NotAHandler struct{}

func (NotAHandler) Close() error { return nil }

// Skipped has the endpoint shape but opts out.
//
//micro:ignore
type Skipped struct{}

func (Skipped) Do(ctx context.Context, req *Req, rsp *Rsp) error { return nil }

// AllWrong has no endpoint: each method misses a pointer. It is reported
// all the same, since the server would refuse it.
type AllWrong struct{}

func (AllWrong) Do(ctx context.Context, req Req, rsp *Rsp) error { return nil }
func (AllWrong) Close() error                                    { return nil }
