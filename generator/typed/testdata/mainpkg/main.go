// Command mainpkg has a handler in package main: no client can import it.
package main

import "context"

type Req struct{}

type H struct{}

func (H) Do(ctx context.Context, req *Req, rsp *Req) error { return nil }

func main() {}
