// Package broken does not type-check: nothing may be written for it.
package broken

import "context"

type Req struct{}

type H struct{}

func (H) Do(ctx context.Context, req *Req, rsp *Missing) error { return nil }
