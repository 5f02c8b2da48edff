package typed_test

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/generator/typed"
	"github.com/seedmicro/micro/generator/typed/internal/shop"
	"github.com/seedmicro/micro/generator/typed/internal/shop/shopclient"
)

// Plan shows what gen would write, and why some methods are left out,
// without writing anything.
func ExamplePlan() {
	res, err := typed.Plan(context.Background(), ".", "./internal/shop", "./testdata/bad")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range res.Files {
		fmt.Println("client:", filepath.Base(f.Path))
	}
	d := res.Diagnostics[0]
	fmt.Printf("%s:%d: %s\n", filepath.Base(d.Pos.Filename), d.Pos.Line, d.Message)
	// Output:
	// client: shopclient.micro.go
	// client: badclient.micro.go
	// bad.go:14: H.ValueRequest is not an endpoint: its request parameter is bad.Req, not a pointer: take *bad.Req
}

// recorder is a test double for the client: it records the call.
type recorder struct{}

func (recorder) Call(ctx context.Context, service, endpoint string, req, rsp any, opts ...client.CallOption) error {
	fmt.Printf("call %s %s %+v\n", service, endpoint, req)
	rsp.(*shop.CountResponse).Count = 3
	return nil
}

// A generated client calls through a *client.Client (micro.Service.Client())
// or, in tests, any value with its Call method.
func Example_generatedClient() {
	c := shopclient.NewStock(recorder{})
	rsp, err := c.Count(context.Background(), &shop.CountRequest{Item: "tea"})
	fmt.Println(rsp.Count, err)
	// Output:
	// call shop Stock.Count &{Item:tea}
	// 3 <nil>
}
