// Package selector picks the node of a service that a call goes to.
package selector

import (
	"context"
	"errors"

	"github.com/seedmicro/micro/core/registry"
)

// ErrNoneAvailable is returned when a service has no node left to try.
var ErrNoneAvailable = errors.New("selector: no node available")

// Next returns the next node to try. Each call may return a different node;
// after every node has been offered it returns ErrNoneAvailable.
type Next func() (*registry.Node, error)

// Selector chooses nodes for a service.
type Selector interface {
	// Select returns an iterator over the nodes of service, in the order
	// the strategy prefers.
	Select(ctx context.Context, service string) (Next, error)
	// Mark reports the outcome of a call to node: nil for success, the
	// error for a failure. Selectors use it to take failing nodes out.
	Mark(service string, node *registry.Node, err error)
}
