// Package subscriber is the greeter service's event subscriber. The
// instances of the service share a queue group named after it, so each event
// is handled by one instance.
package subscriber

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Topic is the topic the subscriber listens on.
const Topic = "greeter.events"

// Event is what is published on Topic.
type Event struct {
	Name string `json:"name"`
}

// Subscriber handles Events. A handler's return value is its
// acknowledgement: nil acknowledges the event, an error has the broker
// deliver it again.
type Subscriber struct {
	Log   *slog.Logger
	count atomic.Int64
}

// Handle handles one event.
func (s *Subscriber) Handle(ctx context.Context, ev *Event) error {
	n := s.count.Add(1)
	if s.Log != nil {
		s.Log.Info("event received", "topic", Topic, "name", ev.Name, "total", n)
	}
	return nil
}

// Count is how many events Handle has handled.
func (s *Subscriber) Count() int64 { return s.count.Load() }
