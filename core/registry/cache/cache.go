// Package cache keeps the services a process looks up in memory, fresh
// through a watch, so that looking a service up costs no registry I/O.
//
// The first Lookup of a name asks the underlying registry (concurrent first
// lookups of one name share a single call) and remembers the answer, "not
// found" included. From then on the name is served from memory, without
// waiting on the registry again. One Watch
// on the underlying registry, started with the first Lookup, applies every
// change to the remembered names as it happens. If the watch fails, the
// cache re-establishes it with exponential back-off and looks every
// remembered name up again, since events may have been missed. As a safety
// net against a registry that loses events silently, an entry is also looked
// up again, in the background, once it is older than WithTTL; until that
// Lookup succeeds the old entry goes on being served.
//
// Register and Deregister through the Cache go to the underlying registry
// and drop the entry of that name, so a process reads its own writes.
package cache

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/registry"
)

// ErrClosed is returned by a Cache after Close.
var ErrClosed = errors.New("cache: closed")

var _ registry.Registry = (*Cache)(nil)

// Cache is a registry.Registry that serves Lookup from memory. Create it
// with New; it is safe for concurrent use.
type Cache struct {
	reg  registry.Registry
	opts options

	mu       sync.RWMutex
	entries  map[string]*entry
	flights  map[string]*flight
	closed   bool
	watching bool
	ready    chan struct{} // closed after the first attempt to watch

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is what the cache knows of one name. Its fields are guarded by
// Cache.mu.
type entry struct {
	snap      *Snapshot
	refreshAt time.Time // look the name up again from then on
}

// flight is one Lookup on the underlying registry, shared by every caller
// that needs it.
type flight struct {
	done chan struct{}
	// Set before done is closed.
	snap *Snapshot
	err  error
	// Guarded by Cache.mu: events seen while the Lookup was in progress,
	// replayed onto its result, and whether a write through the Cache made
	// the result outdated before it arrived.
	events []*registry.Event
	stale  bool
}

// New returns a Cache in front of reg. It starts no goroutine until the
// first Lookup; Close stops those it started. Close does not close reg.
func New(reg registry.Registry, opts ...Option) *Cache {
	o := options{
		ttl:           DefaultTTL,
		backoffMin:    DefaultBackoffMin,
		backoffMax:    DefaultBackoffMax,
		lookupTimeout: DefaultLookupTimeout,
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	o.backoffMax = max(o.backoffMax, o.backoffMin)
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{
		reg:     reg,
		opts:    o,
		entries: make(map[string]*entry),
		flights: make(map[string]*flight),
		ready:   make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
}

// Snapshot is what the cache knows of one service at one moment. It is
// immutable: a change to the service makes a new Snapshot, so callers can
// compare Snapshot pointers to tell whether anything changed, and can derive
// data from a Snapshot once and keep it for as long as the Snapshot is
// current.
type Snapshot struct {
	name     string
	services []*registry.Service
}

// Name returns the service name.
func (s *Snapshot) Name() string { return s.name }

// Services returns the live versions of the service, sorted by version, each
// with its nodes sorted by ID. They are shared: callers must not modify
// them (use Lookup for copies).
func (s *Snapshot) Services() []*registry.Service { return s.services }

// Snapshot returns what the cache knows of the named service. Only the
// first call for a name waits for the underlying registry; once an entry is
// older than the TTL it is still served while a Lookup in the background
// refreshes it. Snapshot returns registry.ErrNotFound if the service has no
// live node. Once warm it does no I/O and allocates nothing.
func (c *Cache) Snapshot(ctx context.Context, name string) (*Snapshot, error) {
	c.mu.RLock()
	e, closed := c.entries[name], c.closed
	var snap *Snapshot
	var refreshAt time.Time
	if e != nil {
		snap, refreshAt = e.snap, e.refreshAt
	}
	c.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrClosed
	case e == nil:
		var err error
		if snap, err = c.load(ctx, name); err != nil {
			return nil, err
		}
	case !time.Now().Before(refreshAt):
		c.refresh(name)
	}
	if len(snap.services) == 0 {
		return nil, registry.ErrNotFound
	}
	return snap, nil
}

// Lookup returns copies of the live versions of the service, from memory
// once the name is cached.
func (c *Cache) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	snap, err := c.Snapshot(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]*registry.Service, len(snap.services))
	for i, s := range snap.services {
		out[i] = s.Copy()
	}
	return out, nil
}

// Register registers svc with the underlying registry and drops the cached
// entry of its name.
func (c *Cache) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	err := c.reg.Register(ctx, svc, ttl)
	if svc != nil {
		c.invalidate(svc.Name)
	}
	return err
}

// Deregister deregisters svc from the underlying registry and drops the
// cached entry of its name.
func (c *Cache) Deregister(ctx context.Context, svc *registry.Service) error {
	err := c.reg.Deregister(ctx, svc)
	if svc != nil {
		c.invalidate(svc.Name)
	}
	return err
}

// List lists the services of the underlying registry; it is not cached.
func (c *Cache) List(ctx context.Context) ([]*registry.Service, error) {
	return c.reg.List(ctx)
}

// Watch watches the underlying registry.
func (c *Cache) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	return c.reg.Watch(ctx, opts...)
}

// Close stops the watch and waits for the cache's goroutines. Later calls
// to Lookup return ErrClosed. Close is idempotent.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

func (c *Cache) invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, name)
	if f := c.flights[name]; f != nil {
		f.stale = true
	}
}

// load looks name up in the underlying registry, joining the Lookup in
// flight if there is one, and waits for the answer.
func (c *Cache) load(ctx context.Context, name string) (*Snapshot, error) {
	if !c.startWatch() {
		return nil, ErrClosed
	}
	// Look up only once the watch is there, so that no change between the
	// Lookup and the watch goes unseen.
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if e := c.entries[name]; e != nil {
		// Another caller loaded it in the meantime.
		snap := e.snap
		c.mu.Unlock()
		return snap, nil
	}
	f := c.flights[name]
	if f == nil {
		f = c.startFlightLocked(name)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.snap, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refresh starts a background Lookup of a cached name that is due, unless
// one is in flight.
func (c *Cache) refresh(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[name]
	if c.closed || e == nil || c.flights[name] != nil || time.Now().Before(e.refreshAt) {
		return
	}
	// Not due again while this Lookup runs; fly sets the real time.
	e.refreshAt = time.Now().Add(c.opts.lookupTimeout)
	c.startFlightLocked(name)
}

func (c *Cache) startFlightLocked(name string) *flight {
	f := &flight{done: make(chan struct{})}
	c.flights[name] = f
	c.wg.Add(1)
	go c.fly(name, f)
	return f
}

func (c *Cache) fly(name string, f *flight) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.lookupTimeout)
	svcs, err := c.reg.Lookup(ctx, name)
	cancel()

	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(f.done)
	delete(c.flights, name)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		if e := c.entries[name]; e != nil {
			// Serve what we have; try again a little later.
			e.refreshAt = now.Add(c.opts.backoffMin)
			f.snap = e.snap
			return
		}
		f.err = err
		return
	}
	snap := newSnapshot(name, svcs)
	for _, ev := range f.events {
		snap = snap.apply(ev)
	}
	f.snap = snap
	// If a write through the Cache raced with the Lookup, the answer goes
	// to the callers that waited for it but is not remembered.
	if !c.closed && !f.stale {
		c.entries[name] = &entry{snap: snap, refreshAt: now.Add(c.opts.ttl)}
	}
}

// startWatch starts the watch loop unless it runs already; it reports false
// if the cache is closed.
func (c *Cache) startWatch() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if !c.watching {
		c.watching = true
		c.wg.Add(1)
		go c.watchLoop()
	}
	return true
}

// watchLoop keeps a watch on the underlying registry and applies its events,
// re-establishing it with back-off when it fails.
func (c *Cache) watchLoop() {
	defer c.wg.Done()
	// The wait doubles from backoffMin up to backoffMax after each failed
	// attempt; each is drawn between half of it and all of it, so that many
	// processes do not retry in step.
	policy := backoff.Policy{Initial: c.opts.backoffMin, Max: c.opts.backoffMax, Multiplier: 2, Jitter: 0.5}
	failures := 0
	first := true
	for {
		w, err := c.reg.Watch(c.ctx)
		if first {
			first = false
			close(c.ready)
		} else if err == nil {
			// Events may have been lost while the watch was down.
			c.resync()
		}
		if err == nil {
			failures = 0
			c.consume(w)
			w.Stop()
		}
		if c.ctx.Err() != nil {
			return
		}
		failures++
		if policy.Sleep(c.ctx, failures) != nil {
			return
		}
	}
}

// consume applies events until the watcher fails.
func (c *Cache) consume(w registry.Watcher) {
	for {
		ev, err := w.Next()
		if err != nil {
			return
		}
		c.apply(ev)
	}
}

func (c *Cache) apply(ev *registry.Event) {
	if ev == nil || ev.Service == nil {
		return
	}
	name := ev.Service.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[name]; e != nil {
		e.snap = e.snap.apply(ev)
	}
	if f := c.flights[name]; f != nil {
		f.events = append(f.events, ev)
	}
}

// resync looks every cached name up again and waits for the answers.
func (c *Cache) resync() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	var flights []*flight
	for name := range c.entries {
		f := c.flights[name]
		if f == nil {
			f = c.startFlightLocked(name)
		}
		flights = append(flights, f)
	}
	c.mu.Unlock()
	for _, f := range flights {
		select {
		case <-f.done:
		case <-c.ctx.Done():
			return
		}
	}
}

// newSnapshot makes a Snapshot of services that the caller hands over.
func newSnapshot(name string, svcs []*registry.Service) *Snapshot {
	s := &Snapshot{name: name}
	for _, svc := range svcs {
		if svc != nil && svc.Name == name && len(svc.Nodes) > 0 {
			s.services = append(s.services, svc)
		}
	}
	s.sort()
	return s
}

func (s *Snapshot) sort() {
	slices.SortFunc(s.services, func(a, b *registry.Service) int { return cmp.Compare(a.Version, b.Version) })
	for _, svc := range s.services {
		slices.SortFunc(svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	}
}

// apply returns the Snapshot that results from ev. For Added and Updated the
// event's service replaces its version; for Removed its nodes leave their
// version, and a version without nodes (or a Removed without nodes) goes.
func (s *Snapshot) apply(ev *registry.Event) *Snapshot {
	in := ev.Service
	i := slices.IndexFunc(s.services, func(svc *registry.Service) bool { return svc.Version == in.Version })
	next := &Snapshot{name: s.name, services: slices.Clone(s.services)}
	switch ev.Type {
	case registry.Added, registry.Updated:
		svc := in.Copy()
		svc.Nodes = slices.DeleteFunc(svc.Nodes, func(n *registry.Node) bool { return n == nil })
		switch {
		case len(svc.Nodes) == 0 && i >= 0:
			next.services = slices.Delete(next.services, i, i+1)
		case len(svc.Nodes) == 0:
			return s
		case i >= 0:
			next.services[i] = svc
		default:
			next.services = append(next.services, svc)
		}
	case registry.Removed:
		if i < 0 {
			return s
		}
		left := make(map[string]bool, len(in.Nodes))
		for _, n := range in.Nodes {
			if n != nil {
				left[n.ID] = true
			}
		}
		kept := s.services[i].Copy()
		kept.Nodes = slices.DeleteFunc(kept.Nodes, func(n *registry.Node) bool { return left[n.ID] })
		if len(kept.Nodes) == 0 || len(left) == 0 {
			next.services = slices.Delete(next.services, i, i+1)
		} else {
			next.services[i] = kept
		}
	default:
		return s
	}
	next.sort()
	return next
}
