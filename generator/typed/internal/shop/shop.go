// Package shop is the fixture of the generator's tests: two handler types,
// subscribers declared on a method and on a function, and methods that are
// not endpoints. Its client, package shopclient, is the golden file.
package shop

import (
	"context"
	"fmt"
	"sync"

	"github.com/seedmicro/micro/core/errors"
)

//go:generate go run github.com/seedmicro/micro/cmd/micro-new gen .

// ServiceName is the name the shop registers under.
const ServiceName = "shop"

// TopicShipped is the topic of Shipped events.
const TopicShipped = "shop.shipped"

// PlaceRequest asks for an order.
type PlaceRequest struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// PlaceResponse is the order placed.
type PlaceResponse struct {
	ID string `json:"id"`
}

// CancelRequest names the order to cancel.
type CancelRequest struct {
	ID string `json:"id"`
}

// Empty is a response with nothing in it.
type Empty struct{}

// CountRequest names an item.
type CountRequest struct {
	Item string `json:"item"`
}

// CountResponse is how many of an item are in stock.
type CountResponse struct {
	Count int `json:"count"`
}

// Shipped is the event of an order leaving the warehouse.
type Shipped struct {
	ID string `json:"id"`
}

// Refunded is the event of an order refunded.
type Refunded struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
}

// Orders takes orders.
type Orders struct {
	mu      sync.Mutex
	n       int
	Shipped chan *Shipped // receives every Shipped event, when not nil
}

// Place places an order for req.Quantity of req.Item.
//
// A quantity below 1 is an InvalidArgument error.
func (o *Orders) Place(ctx context.Context, req *PlaceRequest, rsp *PlaceResponse) error {
	if req.Quantity < 1 {
		return errors.Errorf(errors.InvalidArgument, "quantity %d: order at least 1", req.Quantity)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	rsp.ID = fmt.Sprintf("%s-%d", req.Item, o.n)
	return nil
}

// Cancel cancels an order.
func (o *Orders) Cancel(ctx context.Context, req *CancelRequest, rsp *Empty) error {
	return errors.Errorf(errors.NotFound, "no order %q", req.ID)
}

// OnShipped receives Shipped events.
//
//micro:subscribe TopicShipped
func (o *Orders) OnShipped(ctx context.Context, ev *Shipped) error {
	if o.Shipped != nil {
		o.Shipped <- ev
	}
	return nil
}

// Total is not an endpoint, and is not reported: it takes no context and
// returns no error.
func (o *Orders) Total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// Stock counts items.
type Stock struct{}

func (Stock) Count(ctx context.Context, req *CountRequest, rsp *CountResponse) error {
	rsp.Count = len(req.Item)
	return nil
}

// OnRefunded receives Refunded events.
//
//micro:subscribe "shop.refunded"
func OnRefunded(ctx context.Context, ev *Refunded) error { return nil }
