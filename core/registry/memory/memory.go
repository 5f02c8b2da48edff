// Package memory is a registry.Registry that lives inside one process.
//
// It suits tests and single-binary deployments. Services are keyed by name
// and version; Register merges nodes by ID. Each node expires ttl after its
// last Register (ttl 0 means never): an expired node is invisible to Lookup
// and List at once, and a background reaper, started with the first node that
// has a ttl, removes it and tells watchers. Close stops the reaper.
//
// Events: registering the first node of a version yields Added; a change of
// the nodes, endpoints or metadata of a version yields Updated with the
// version as it now is (a node leaving while others stay is an Updated); a
// version losing its last node yields Removed, whose Service holds the nodes
// that left. Re-registering an unchanged node only refreshes its expiry and
// yields no event.
//
// Watchers never slow the registry down: each has its own queue, bounded by
// WithWatchQueue. A watcher that falls that far behind is ended, and its Next
// returns ErrWatcherOverflow, so that its owner can Lookup again and rewatch
// instead of silently missing events.
package memory

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/registry"
)

// ErrClosed is returned by every method of a Registry after Close.
var ErrClosed = errors.New("memory: registry closed")

// ErrWatcherOverflow is returned by Watcher.Next when the watcher fell more
// than its queue size (WithWatchQueue) behind and events were discarded.
var ErrWatcherOverflow = errors.New("memory: watcher fell behind and lost events; look up again and rewatch")

var _ registry.Registry = (*Registry)(nil)

// Registry is an in-process registry.Registry. Create it with New; the zero
// value is not usable. It is safe for concurrent use.
type Registry struct {
	opts options

	mu       sync.RWMutex
	services map[string]map[string]*record // name → version → record
	watchers map[*watcher]struct{}
	closed   bool
	reaping  bool
	nextReap time.Time // when the reaper will next look; zero when idle

	wake chan struct{} // nudges the reaper when an earlier expiry appears
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// record is one version of a service.
type record struct {
	svc   *registry.Service // name, version, metadata, endpoints; no nodes
	nodes map[string]*nodeRecord
}

type nodeRecord struct {
	node    *registry.Node
	expires time.Time // zero: never
}

func (n *nodeRecord) live(now time.Time) bool {
	return n.expires.IsZero() || now.Before(n.expires)
}

// New returns an empty Registry.
func New(opts ...Option) *Registry {
	o := options{watchQueue: DefaultWatchQueue}
	for _, opt := range opts {
		opt.apply(&o)
	}
	return &Registry{
		opts:     o,
		services: make(map[string]map[string]*record),
		watchers: make(map[*watcher]struct{}),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// Register adds the nodes of svc, or refreshes them if they are known, and
// replaces the version's metadata and endpoints with those of svc. Each node
// expires ttl from now; ttl 0 means never.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl < 0 {
		return errors.New("memory: negative ttl")
	}
	in := svc.Copy()
	now := time.Now()
	var expires time.Time
	if ttl > 0 {
		expires = now.Add(ttl)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.expireLocked(in.Name, now)

	versions := r.services[in.Name]
	if versions == nil {
		versions = make(map[string]*record)
		r.services[in.Name] = versions
	}
	rec := versions[in.Version]
	event := registry.Updated
	changed := false
	if rec == nil {
		rec = &record{nodes: make(map[string]*nodeRecord)}
		versions[in.Version] = rec
		event, changed = registry.Added, true
	}
	head := &registry.Service{Name: in.Name, Version: in.Version, Metadata: in.Metadata, Endpoints: in.Endpoints}
	if rec.svc == nil || !reflect.DeepEqual(rec.svc, head) {
		rec.svc, changed = head, true
	}
	for _, n := range in.Nodes {
		old := rec.nodes[n.ID]
		if old == nil || !reflect.DeepEqual(old.node, n) {
			changed = true
		}
		rec.nodes[n.ID] = &nodeRecord{node: n, expires: expires}
	}
	if changed {
		r.notifyLocked(event, rec.snapshot(now))
	}
	if ttl > 0 {
		r.startReaperLocked()
		if r.nextReap.IsZero() || expires.Before(r.nextReap) {
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// Deregister removes the nodes of svc from its version. Removing nodes that
// are not registered is not an error.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.expireLocked(svc.Name, now)
	rec := r.services[svc.Name][svc.Version]
	if rec == nil {
		return nil
	}
	var left []*registry.Node
	for _, n := range svc.Nodes {
		if old, ok := rec.nodes[n.ID]; ok {
			left = append(left, old.node)
			delete(rec.nodes, n.ID)
		}
	}
	if len(left) > 0 {
		r.afterRemovalLocked(rec, left, now)
	}
	return nil
}

// Lookup returns copies of the live versions of the service, sorted by
// version, each with its live nodes sorted by ID.
func (r *Registry) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	out, err := r.read(ctx, func(now time.Time) []*registry.Service { return r.lookupLocked(name, now) })
	if err == nil && len(out) == 0 {
		return nil, registry.ErrNotFound
	}
	return out, err
}

// List returns copies of every live service version, sorted by name and
// version.
func (r *Registry) List(ctx context.Context) ([]*registry.Service, error) {
	return r.read(ctx, func(now time.Time) []*registry.Service {
		var out []*registry.Service
		for _, name := range slices.Sorted(maps.Keys(r.services)) {
			out = append(out, r.lookupLocked(name, now)...)
		}
		return out
	})
}

// read returns what f finds with the registry read-locked, unless ctx is
// done or the registry is closed.
func (r *Registry) read(ctx context.Context, f func(now time.Time) []*registry.Service) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, ErrClosed
	}
	return f(now), nil
}

func (r *Registry) lookupLocked(name string, now time.Time) []*registry.Service {
	var out []*registry.Service
	for _, rec := range r.services[name] {
		if s := rec.snapshot(now); len(s.Nodes) > 0 {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *registry.Service) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// Watch reports changes from now on; it does not replay the current state.
// The watcher ends when it is stopped, when ctx is done or when the registry
// is closed; Next then returns registry.ErrWatcherStopped.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	w := &watcher{
		reg:     r,
		service: o.Service,
		limit:   r.opts.watchQueue,
		signal:  make(chan struct{}, 1),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	w.end.StopWith(ctx, w.Stop)
	return w, nil
}

// Close stops the reaper and every watcher. Later calls to the Registry
// return ErrClosed. Close is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	ws := slices.Collect(maps.Keys(r.watchers))
	r.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
	r.wg.Wait()
	return nil
}

// snapshot returns a copy of the version with its live nodes, sorted by ID.
func (rec *record) snapshot(now time.Time) *registry.Service {
	s := *rec.svc
	for _, n := range rec.nodes {
		if n.live(now) {
			s.Nodes = append(s.Nodes, n.node)
		}
	}
	slices.SortFunc(s.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	return s.Copy()
}

// expireLocked drops the expired nodes of one service and reports them.
func (r *Registry) expireLocked(name string, now time.Time) {
	for _, rec := range r.services[name] {
		var left []*registry.Node
		for id, n := range rec.nodes {
			if !n.live(now) {
				left = append(left, n.node)
				delete(rec.nodes, id)
			}
		}
		if len(left) > 0 {
			r.afterRemovalLocked(rec, left, now)
		}
	}
}

// afterRemovalLocked reports that nodes left rec, and forgets rec if it is
// now empty.
func (r *Registry) afterRemovalLocked(rec *record, left []*registry.Node, now time.Time) {
	if len(rec.nodes) > 0 {
		r.notifyLocked(registry.Updated, rec.snapshot(now))
		return
	}
	versions := r.services[rec.svc.Name]
	delete(versions, rec.svc.Version)
	if len(versions) == 0 {
		delete(r.services, rec.svc.Name)
	}
	gone := rec.svc.Copy()
	gone.Nodes = left
	slices.SortFunc(gone.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	r.notifyLocked(registry.Removed, gone)
}

func (r *Registry) notifyLocked(t registry.EventType, svc *registry.Service) {
	for w := range r.watchers {
		if w.service != "" && w.service != svc.Name {
			continue
		}
		if !w.push(&registry.Event{Type: t, Service: svc.Copy()}) {
			delete(r.watchers, w)
		}
	}
}

func (r *Registry) startReaperLocked() {
	if r.reaping || r.closed {
		return
	}
	r.reaping = true
	r.wg.Add(1)
	go r.reap()
}

// reap removes nodes when they expire. It sleeps until the earliest expiry,
// and is nudged through r.wake when a nearer one is registered.
func (r *Registry) reap() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var next time.Time
		r.mu.Lock()
		for name, versions := range r.services {
			r.expireLocked(name, now)
			for _, rec := range versions {
				for _, n := range rec.nodes {
					if !n.expires.IsZero() && (next.IsZero() || n.expires.Before(next)) {
						next = n.expires
					}
				}
			}
		}
		r.nextReap = next
		r.mu.Unlock()

		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-r.done:
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// watcher queues events for one consumer. Its queue is unbounded up to
// limit; past that the watcher is ended with ErrWatcherOverflow.
type watcher struct {
	reg     *Registry
	service string
	limit   int
	end     registry.WatchEnd // ended under mu

	mu     sync.Mutex
	queue  []*registry.Event
	signal chan struct{} // has a token when the queue may be non-empty
}

// push queues ev; it reports false if the watcher has ended and should be
// forgotten. It never blocks.
func (w *watcher) push(ev *registry.Event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.end.Err() != nil {
		return false
	}
	if len(w.queue) >= w.limit {
		w.endLocked(ErrWatcherOverflow)
		return false
	}
	w.queue = append(w.queue, ev)
	select {
	case w.signal <- struct{}{}:
	default:
	}
	return true
}

func (w *watcher) endLocked(err error) {
	w.end.End(err)
	w.queue = nil
}

// Next returns the next event, blocking until there is one or the watcher
// ends.
func (w *watcher) Next() (*registry.Event, error) {
	for {
		w.mu.Lock()
		if err := w.end.Err(); err != nil {
			w.mu.Unlock()
			return nil, err
		}
		if len(w.queue) > 0 {
			ev := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			if len(w.queue) == 0 {
				w.queue = nil // let the backing array go
			}
			w.mu.Unlock()
			return ev, nil
		}
		w.mu.Unlock()
		select {
		case <-w.signal:
		case <-w.end.Done():
		}
	}
}

// Stop ends the watcher; Next then returns registry.ErrWatcherStopped.
func (w *watcher) Stop() {
	w.mu.Lock()
	w.endLocked(registry.ErrWatcherStopped)
	w.mu.Unlock()
	w.reg.mu.Lock()
	delete(w.reg.watchers, w)
	w.reg.mu.Unlock()
}
