package nats

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/registry"
)

// Watch follows the bucket (the keys of one service with
// registry.WatchService) and reports changes made after it returns. The
// watcher ends when ctx ends, when Stop is called, or when the registry is
// closed.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	o := registry.NewWatchOptions(opts...)
	filter := jetstream.AllKeys
	if o.Service != "" {
		filter = serviceFilter(o.Service)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.mu.Unlock()

	kw, err := r.kv.Watch(ctx, filter)
	if err != nil {
		return nil, r.wrap("watch", err)
	}
	w := &watcher{
		r:        r,
		kw:       kw,
		events:   make(chan *registry.Event, r.cfg.WatchQueue),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		nodes:    make(map[string]*node),
		versions: make(map[versionKey]map[string]*node),
	}
	// Load the current state before returning, so that every change made
	// after Watch returns is reported.
	if err := w.load(ctx); err != nil {
		stopKeyWatcher(kw)
		return nil, r.wrap("watch", err)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		stopKeyWatcher(kw)
		return nil, ErrClosed
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	go w.run(ctx)
	return w, nil
}

type versionKey struct{ name, version string }

// watcher follows the bucket on its own goroutine (run) and queues events
// for Next.
type watcher struct {
	r      *Registry
	kw     jetstream.KeyWatcher
	events chan *registry.Event

	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when run has ended
	overflow bool          // set by run before done is closed

	// State, owned by run once Watch has returned.
	nodes    map[string]*node
	versions map[versionKey]map[string]*node
}

// Next returns the next event; ErrWatcherStopped after Stop or once the
// Watch context is done; ErrWatcherOverflow when the reader fell too far
// behind.
func (w *watcher) Next() (*registry.Event, error) {
	select {
	case <-w.stop:
		return nil, registry.ErrWatcherStopped
	default:
	}
	select {
	case ev := <-w.events:
		return ev, nil
	case <-w.done:
		if w.overflow {
			return nil, ErrWatcherOverflow
		}
		return nil, registry.ErrWatcherStopped
	case <-w.stop:
		return nil, registry.ErrWatcherStopped
	}
}

// Stop ends the watch and waits for its goroutine.
func (w *watcher) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// load reads the current values, up to the watcher's "all here" marker.
func (w *watcher) load(ctx context.Context) error {
	for {
		select {
		case e, ok := <-w.kw.Updates():
			if !ok {
				return ErrClosed
			}
			if e == nil {
				return nil
			}
			w.apply(e, w.r.now(), false)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *watcher) run(ctx context.Context) {
	defer func() {
		stopKeyWatcher(w.kw)
		w.r.mu.Lock()
		delete(w.r.watchers, w)
		w.r.mu.Unlock()
		close(w.done)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var expiry <-chan time.Time
		if next := w.nextExpiry(); !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
			expiry = timer.C
		}
		select {
		case e, ok := <-w.kw.Updates():
			if !ok {
				return // the connection was closed
			}
			if e != nil && !w.apply(e, w.r.now(), true) {
				return
			}
		case <-expiry:
			if !w.expire(w.r.now()) {
				return
			}
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// nextExpiry returns the earliest expiry of a node; zero for none.
func (w *watcher) nextExpiry() time.Time {
	var next time.Time
	for _, n := range w.nodes {
		if !n.expires.IsZero() && (next.IsZero() || n.expires.Before(next)) {
			next = n.expires
		}
	}
	return next
}

// apply updates the state with an entry and, with emit, queues the event
// it causes. It returns false when the queue overflowed.
func (w *watcher) apply(e jetstream.KeyValueEntry, now time.Time, emit bool) bool {
	if e.Operation() != jetstream.KeyValuePut {
		return w.remove(e.Key(), emit)
	}
	n, err := decodeEntry(e.Key(), e.Revision(), e.Value())
	if err != nil {
		w.r.log.Debug("nats: ignoring a key that is not a node", "key", e.Key(), "err", err)
		return true
	}
	if !n.live(now) {
		w.r.reapLater(n)
		return w.remove(n.key, emit)
	}
	vk := versionKey{n.svc.Name, n.svc.Version}
	vnodes := w.versions[vk]
	if vnodes == nil {
		vnodes = make(map[string]*node)
		w.versions[vk] = vnodes
	}
	old := w.nodes[n.key]
	wasEmpty := len(vnodes) == 0
	w.nodes[n.key] = n
	vnodes[n.key] = n
	switch {
	case !emit:
		return true
	case wasEmpty:
		return w.send(registry.Added, w.service(vk))
	case old == nil || !bytes.Equal(old.svcJSON, n.svcJSON):
		return w.send(registry.Updated, w.service(vk))
	}
	return true // refreshed only
}

// remove takes a node out of the state and queues the event.
func (w *watcher) remove(key string, emit bool) bool {
	old := w.nodes[key]
	if old == nil {
		return true
	}
	delete(w.nodes, key)
	vk := versionKey{old.svc.Name, old.svc.Version}
	vnodes := w.versions[vk]
	delete(vnodes, key)
	if !emit {
		if len(vnodes) == 0 {
			delete(w.versions, vk)
		}
		return true
	}
	if len(vnodes) == 0 {
		delete(w.versions, vk)
		return w.send(registry.Removed, old.svc.Copy())
	}
	return w.send(registry.Updated, w.service(vk))
}

// expire removes the nodes whose expiry has passed.
func (w *watcher) expire(now time.Time) bool {
	var gone []*node
	for _, n := range w.nodes {
		if !n.live(now) {
			gone = append(gone, n)
		}
	}
	slices.SortFunc(gone, func(a, b *node) int { return cmp.Compare(a.key, b.key) })
	for _, n := range gone {
		w.r.reapLater(n)
		if !w.remove(n.key, true) {
			return false
		}
	}
	return true
}

// service returns the version as it now is: the fields of its most
// recently written node, and all its nodes sorted by ID.
func (w *watcher) service(vk versionKey) *registry.Service {
	var latest *node
	nodes := make([]*registry.Node, 0, len(w.versions[vk]))
	for _, n := range w.versions[vk] {
		if latest == nil || n.rev > latest.rev {
			latest = n
		}
		nodes = append(nodes, n.svc.Nodes[0])
	}
	svc := latest.svc.Copy()
	svc.Nodes = nodes
	slices.SortFunc(svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	return svc.Copy() // the nodes too: the reader may change the event
}

// send queues an event; false when the queue is full, which ends the
// watcher with ErrWatcherOverflow.
func (w *watcher) send(t registry.EventType, svc *registry.Service) bool {
	select {
	case w.events <- &registry.Event{Type: t, Service: svc}:
		return true
	default:
		w.overflow = true
		w.r.log.Warn("nats: watcher fell behind; ended", "queue", cap(w.events))
		return false
	}
}

// stopKeyWatcher stops a key-value watcher and drains its updates, so that
// the client's delivery goroutine, which may be blocked on a full channel,
// ends.
func stopKeyWatcher(kw jetstream.KeyWatcher) {
	_ = kw.Stop()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-kw.Updates():
			if !ok {
				return
			}
		case <-timeout:
			return
		}
	}
}
