// Package registry defines service discovery: services announce their nodes
// with a time to live, and clients look them up or watch for changes.
//
// Two implementations ship with the core: memory (one process) and local
// (many processes on one machine, no server). Plugins add others; what
// implementations share is here too: NewWatchOptions reads the options of
// Watch, and WatchEnd ends a Watcher and serves its Next.
package registry

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Lookup when no live node of the service exists.
var ErrNotFound = errors.New("registry: service not found")

// ErrWatcherStopped is returned by Watcher.Next after Stop, or once the
// context given to Watch is done.
var ErrWatcherStopped = errors.New("registry: watcher stopped")

// Registry stores services and their nodes.
//
// Register adds or refreshes the nodes of svc; each node expires ttl after its
// last Register unless ttl is zero (no expiry). Deregister removes the nodes
// of svc; a service without nodes disappears. Lookup returns the live
// versions of a service, each with its nodes; ErrNotFound when there are none.
// List returns every live service. Watch reports changes.
type Registry interface {
	Register(ctx context.Context, svc *Service, ttl time.Duration) error
	Deregister(ctx context.Context, svc *Service) error
	Lookup(ctx context.Context, name string) ([]*Service, error)
	List(ctx context.Context) ([]*Service, error)
	Watch(ctx context.Context, opts ...WatchOption) (Watcher, error)
}

// Service is one version of a named service and the nodes that run it.
type Service struct {
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Endpoints []*Endpoint       `json:"endpoints,omitempty"`
	Nodes     []*Node           `json:"nodes,omitempty"`
}

// Node is one running instance of a service.
type Node struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Endpoint is one callable method or subscribed topic of a service.
type Endpoint struct {
	Name     string            `json:"name"`
	Request  *Value            `json:"request,omitempty"`
	Response *Value            `json:"response,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Value describes the schema of a request or response: a name, a type and,
// for structs, its fields.
type Value struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Fields []*Value `json:"fields,omitempty"`
}

// EventType says what happened to a service.
type EventType int

// Event types.
const (
	Added EventType = iota + 1
	Updated
	Removed
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	}
	return "unknown"
}

// Event is a change to a service. For Removed, Service holds the nodes that
// left; for Added and Updated, the service as it now is.
type Event struct {
	Type    EventType
	Service *Service
}

// Watcher yields events until stopped.
type Watcher interface {
	// Next blocks until the next event. It returns ErrWatcherStopped after
	// Stop or once the Watch context is done.
	Next() (*Event, error)
	// Stop ends the watch and releases its resources. It is safe to call
	// more than once.
	Stop()
}

// WatchOption configures Watch.
type WatchOption func(*WatchOptions)

// WatchOptions is the resolved form of WatchOption; implementations read it
// through NewWatchOptions.
type WatchOptions struct {
	// Service restricts the watch to one service name; empty means all.
	Service string
}

// WatchService restricts a watch to the named service.
func WatchService(name string) WatchOption {
	return func(o *WatchOptions) { o.Service = name }
}

// NewWatchOptions applies opts.
func NewWatchOptions(opts ...WatchOption) WatchOptions {
	var o WatchOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Copy returns a deep copy of s.
func (s *Service) Copy() *Service {
	if s == nil {
		return nil
	}
	c := *s
	c.Metadata = copyMap(s.Metadata)
	if s.Endpoints != nil {
		c.Endpoints = make([]*Endpoint, len(s.Endpoints))
		for i, e := range s.Endpoints {
			ec := *e
			ec.Metadata = copyMap(e.Metadata)
			ec.Request = e.Request.Copy()
			ec.Response = e.Response.Copy()
			c.Endpoints[i] = &ec
		}
	}
	if s.Nodes != nil {
		c.Nodes = make([]*Node, len(s.Nodes))
		for i, n := range s.Nodes {
			nc := *n
			nc.Metadata = copyMap(n.Metadata)
			c.Nodes[i] = &nc
		}
	}
	return &c
}

// Copy returns a deep copy of v.
func (v *Value) Copy() *Value {
	if v == nil {
		return nil
	}
	c := *v
	if v.Fields != nil {
		c.Fields = make([]*Value, len(v.Fields))
		for i, f := range v.Fields {
			c.Fields[i] = f.Copy()
		}
	}
	return &c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Validate reports what is missing from a service before it is registered.
func (s *Service) Validate() error {
	switch {
	case s == nil:
		return errors.New("registry: service is nil")
	case s.Name == "":
		return errors.New("registry: service has no name; set Service.Name")
	case len(s.Nodes) == 0:
		return errors.New("registry: service " + s.Name + " has no nodes; add at least one Node with an ID and Address")
	}
	for _, n := range s.Nodes {
		if n == nil || n.ID == "" {
			return errors.New("registry: service " + s.Name + " has a node without an ID")
		}
	}
	return nil
}
