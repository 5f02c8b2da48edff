package selector

import (
	"context"
	"time"

	"github.com/seedmicro/micro/core/registry"
)

// Option configures a Balancer built by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	strategy Strategy
	coolDown time.Duration
	filters  []Filter
}

// DefaultCoolDown is how long a node that failed is passed over.
const DefaultCoolDown = 5 * time.Second

// Filter reports whether a node may be offered. svc is the version the node
// belongs to; neither may be modified. ctx is the one given to Select.
type Filter func(ctx context.Context, svc *registry.Service, node *registry.Node) bool

// WithStrategy sets the order in which nodes are offered (default
// RoundRobin). A nil Strategy selects the default.
func WithStrategy(s Strategy) Option {
	return optionFunc(func(o *options) {
		if s != nil {
			o.strategy = s
		}
	})
}

// WithCoolDown sets how long a node marked as failed is passed over
// (default DefaultCoolDown). Zero turns the failure list off: Mark then
// does nothing. Negative values select the default.
func WithCoolDown(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d >= 0 {
			o.coolDown = d
		}
	})
}

// WithFilter adds filters; a node is offered only if every filter accepts
// it. Filters run as Next walks the nodes, so they should be cheap.
func WithFilter(filters ...Filter) Option {
	return optionFunc(func(o *options) {
		for _, f := range filters {
			if f != nil {
				o.filters = append(o.filters, f)
			}
		}
	})
}

type hashKey struct{}

// WithHashKey returns a context that carries the key by which the Hash
// strategy places a call on the ring: calls with the same key go to the same
// node while the nodes stay the same.
func WithHashKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, hashKey{}, key)
}

// HashKeyFrom returns the key set by WithHashKey, if any.
func HashKeyFrom(ctx context.Context) (string, bool) {
	key, ok := ctx.Value(hashKey{}).(string)
	return key, ok
}
