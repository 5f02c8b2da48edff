package typed_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/generator/typed/internal/shop"
	"github.com/seedmicro/micro/generator/typed/internal/shop/shopclient"
)

// BenchmarkCall compares a call through the generated client with the same
// call made with strings; bench/cmd/typedbench prints their ratio.
func BenchmarkCall(b *testing.B) {
	svc := startShop(b, &shop.Orders{})
	ctx := context.Background()
	req := &shop.CountRequest{Item: "tea"}
	b.Run("typed", func(b *testing.B) {
		c := shopclient.NewStock(svc.Client())
		for b.Loop() {
			if _, err := c.Count(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("string", func(b *testing.B) {
		for b.Loop() {
			var rsp shop.CountResponse
			if err := svc.Client().Call(ctx, shop.ServiceName, "Stock.Count", req, &rsp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
