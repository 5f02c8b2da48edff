package typed_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/generator/typed/internal/shop"
	"github.com/seedmicro/micro/generator/typed/internal/shop/shopclient"
)

// startService runs a service named name on the embedded defaults: the
// local registry (in a directory of the test) and the direct broker. setup
// registers its handlers and subscribers.
func startService(t testing.TB, name string, setup func(*micro.Service) []error) *micro.Service {
	t.Helper()
	t.Setenv(local.EnvDir, t.TempDir())
	svc, err := micro.New(name, micro.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range append(setup(svc), svc.Start(context.Background())) {
		if err != nil {
			svc.Close()
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := svc.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return svc
}

// startShop runs the fixture service shop.
func startShop(t testing.TB, orders *shop.Orders) *micro.Service {
	t.Helper()
	return startService(t, shop.ServiceName, func(svc *micro.Service) []error {
		return []error{
			svc.Handle(orders),
			svc.Handle(shop.Stock{}),
			svc.Subscribe(shop.TopicShipped, orders.OnShipped),
			svc.Subscribe("shop.refunded", shop.OnRefunded),
		}
	})
}

// TestGeneratedClientCallsServer compiles the golden client (this file
// imports it) and calls a real server through it.
func TestGeneratedClientCallsServer(t *testing.T) {
	orders := &shop.Orders{Shipped: make(chan *shop.Shipped, 1)}
	svc := startShop(t, orders)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	oc := shopclient.NewOrders(svc.Client())
	sc := shopclient.NewStock(svc.Client())

	t.Run("endpoints", func(t *testing.T) {
		tests := []struct {
			name string
			call func() (any, error)
			want any
			code errors.Code
		}{
			{"Orders.Place", func() (any, error) {
				r, err := oc.Place(ctx, &shop.PlaceRequest{Item: "tea", Quantity: 2})
				return r, err
			}, shop.PlaceResponse{ID: "tea-1"}, errors.OK},
			{"Orders.Place invalid", func() (any, error) {
				return oc.Place(ctx, &shop.PlaceRequest{Item: "tea"})
			}, nil, errors.InvalidArgument},
			{"Orders.Cancel", func() (any, error) {
				return oc.Cancel(ctx, &shop.CancelRequest{ID: "x"})
			}, nil, errors.NotFound},
			{"Stock.Count", func() (any, error) {
				return sc.Count(ctx, &shop.CountRequest{Item: "coffee"})
			}, shop.CountResponse{Count: 6}, errors.OK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rsp, err := tt.call()
				if errors.CodeOf(err) != tt.code {
					t.Fatalf("code %v (%v), want %v", errors.CodeOf(err), err, tt.code)
				}
				if err != nil {
					return
				}
				var got any
				switch r := rsp.(type) {
				case *shop.PlaceResponse:
					got = *r
				case *shop.CountResponse:
					got = *r
				}
				if got != tt.want {
					t.Fatalf("response %+v, want %+v", got, tt.want)
				}
			})
		}
	})

	t.Run("publisher", func(t *testing.T) {
		if err := shopclient.NewPublisher(svc.Client()).PublishShipped(ctx, &shop.Shipped{ID: "tea-1"}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-orders.Shipped:
			if ev.ID != "tea-1" {
				t.Fatalf("event %+v", ev)
			}
		case <-ctx.Done():
			t.Fatal("the subscriber did not receive the event")
		}
	})

	t.Run("WithService", func(t *testing.T) {
		_, err := shopclient.NewStock(svc.Client(), shopclient.WithService("nowhere")).Count(ctx, &shop.CountRequest{})
		if errors.CodeOf(err) != errors.NotFound {
			t.Fatalf("code %v (%v), want NotFound", errors.CodeOf(err), err)
		}
	})
}
