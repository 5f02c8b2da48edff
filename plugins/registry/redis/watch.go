package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/registry"
)

// watchQueue is how many events a watcher holds for Next; when they are not
// read, the watcher stops reading announcements until they are.
const watchQueue = 256

// Watch reports changes to the services (or, with registry.WatchService, to
// one service) from now on: it subscribes to the registry's channel first,
// then takes a snapshot, so that no change in between is missed. The
// watcher holds a connection of its own until Stop, Close or the end of
// ctx.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	w := &watcher{
		r:       r,
		service: o.Service,
		events:  make(chan *registry.Event, watchQueue),
		exited:  make(chan struct{}),
		state:   make(map[string]map[string]*registry.Service),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()

	w.ps = r.client.Subscribe(ctx, r.Channel())
	if _, err := w.ps.Receive(ctx); err != nil { // the subscription's confirmation
		w.ps.Close()
		r.forget(w)
		return nil, r.fail("watch", err)
	}
	if err := w.resync(ctx, false); err != nil {
		w.ps.Close()
		r.forget(w)
		return nil, r.fail("watch", err)
	}
	go w.run()
	w.end.StopWith(ctx, w.Stop)
	return w, nil
}

func (r *Registry) forget(w *watcher) {
	r.mu.Lock()
	delete(r.watchers, w)
	r.mu.Unlock()
}

// watcher is a registry.Watcher: a goroutine that applies the
// announcements on the channel to its view of the services and reports the
// changes as events.
type watcher struct {
	r       *Registry
	service string // "" for all
	ps      *goredis.PubSub
	events  chan *registry.Event
	end     registry.WatchEnd
	exited  chan struct{} // closed when run returns

	// Owned by run (and by Watch before run starts).
	state map[string]map[string]*registry.Service // name → version → as last reported
}

// Next returns the next event, or registry.ErrWatcherStopped after Stop or
// once the ctx given to Watch is done.
func (w *watcher) Next() (*registry.Event, error) { return w.end.Next(w.events) }

// Stop ends the watch, closes its connection and waits for its goroutine.
func (w *watcher) Stop() {
	if w.end.End(registry.ErrWatcherStopped) {
		w.ps.Close() // interrupts a receive in progress
		w.r.forget(w)
	}
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		// run is stuck in a command bounded by the client's timeouts; it
		// will see the end.
	}
}

func (w *watcher) stopped() bool { return w.end.Err() != nil }

// run receives announcements until Stop. Between them, every SweepInterval,
// it sweeps expired nodes (whose announcements it then receives) and pings
// its connection; every ResyncInterval, and after its connection was lost
// or an announcement did not decode, it compares its view with a full scan.
func (w *watcher) run() {
	defer close(w.exited)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.end.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	cfg := &w.r.cfg
	sweepEvery := time.Duration(cfg.SweepInterval)
	nextSweep := time.Now().Add(sweepEvery)
	nextResync := time.Now().Add(time.Duration(cfg.ResyncInterval))
	var (
		failures     int // receives failed in a row
		resyncNeeded bool
	)
	for !w.stopped() {
		now := time.Now()
		if !now.Before(nextSweep) {
			nextSweep = now.Add(sweepEvery)
			if err := w.r.sweep(ctx); err != nil && !w.stopped() {
				w.r.log.Warn("sweeping expired nodes failed", "error", err)
			}
			w.ps.Ping(ctx) // a dead connection shows up as an error of the next receive
		}
		if resyncNeeded || !now.Before(nextResync) {
			if err := w.resync(ctx, true); err != nil {
				if !w.stopped() {
					w.r.log.Warn("watch: rescanning the registry failed", "error", err)
				}
			} else {
				resyncNeeded = false
				nextResync = time.Now().Add(time.Duration(cfg.ResyncInterval))
			}
		}
		msg, err := w.ps.ReceiveTimeout(ctx, max(time.Until(nextSweep), time.Millisecond))
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				continue
			}
			if w.stopped() {
				return
			}
			// The connection is lost; go-redis reconnects and subscribes
			// again on the next receive. Announcements in between are
			// lost, hence the resync.
			resyncNeeded = true
			failures++
			wait := reconnectPolicy.Delay(failures)
			w.r.log.Warn("watch: connection lost; reconnecting", "error", err, "retry_in", wait.String())
			select {
			case <-w.end.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		failures = 0
		switch m := msg.(type) {
		case *goredis.Message:
			var a Announcement
			if err := json.Unmarshal([]byte(m.Payload), &a); err != nil || a.Service == nil {
				w.r.log.Warn("watch: ignoring an announcement that does not decode", "payload", m.Payload, "error", err)
				resyncNeeded = true
				continue
			}
			if w.service != "" && a.Service.Name != w.service {
				continue
			}
			w.announce(&a)
		case *goredis.Subscription:
			// Subscribed again after a reconnection.
			resyncNeeded = true
		}
	}
}

// resync compares the watcher's view with a full scan (or a lookup of the
// watched service) and, with emit, reports the differences.
func (w *watcher) resync(ctx context.Context, emit bool) error {
	var names []string
	if w.service != "" {
		names = []string{w.service}
	}
	svcs, err := w.r.load(ctx, names...)
	if err != nil {
		return err
	}
	now := make(map[string][]*registry.Service)
	for _, s := range svcs {
		now[s.Name] = append(now[s.Name], s)
	}
	for name := range w.state {
		if _, ok := now[name]; !ok {
			now[name] = nil
		}
	}
	for name, svcs := range now {
		if !w.apply(name, svcs, emit) {
			return nil
		}
	}
	return nil
}

// announce applies an announcement to the watcher's view and reports the
// change, if any.
func (w *watcher) announce(a *Announcement) {
	in := a.Service
	cur := w.state[in.Name][in.Version]
	switch a.Op {
	case OpRegister:
		next := &registry.Service{Name: in.Name, Version: in.Version, Metadata: in.Metadata, Endpoints: in.Endpoints}
		if cur != nil {
			next.Nodes = slices.Clone(cur.Nodes)
		}
		for _, n := range in.Nodes {
			if i := slices.IndexFunc(next.Nodes, func(o *registry.Node) bool { return o.ID == n.ID }); i >= 0 {
				next.Nodes[i] = n
			} else {
				next.Nodes = append(next.Nodes, n)
			}
		}
		sortNodes(next.Nodes)
		switch {
		case cur == nil:
			w.put(next)
			w.send(&registry.Event{Type: registry.Added, Service: next.Copy()})
		case !reflect.DeepEqual(cur, next):
			w.put(next)
			w.send(&registry.Event{Type: registry.Updated, Service: next.Copy()})
		}
	case OpDeregister, OpExpire:
		if cur == nil {
			return
		}
		gone := make(map[string]bool, len(in.Nodes))
		for _, n := range in.Nodes {
			gone[n.ID] = true
		}
		left := &registry.Service{Name: cur.Name, Version: cur.Version, Metadata: cur.Metadata, Endpoints: cur.Endpoints}
		next := &registry.Service{Name: cur.Name, Version: cur.Version, Metadata: cur.Metadata, Endpoints: cur.Endpoints}
		for _, n := range cur.Nodes {
			if gone[n.ID] {
				left.Nodes = append(left.Nodes, n)
			} else {
				next.Nodes = append(next.Nodes, n)
			}
		}
		switch {
		case len(left.Nodes) == 0:
		case len(next.Nodes) == 0:
			delete(w.state[cur.Name], cur.Version)
			if len(w.state[cur.Name]) == 0 {
				delete(w.state, cur.Name)
			}
			w.send(&registry.Event{Type: registry.Removed, Service: left.Copy()})
		default:
			w.put(next)
			w.send(&registry.Event{Type: registry.Updated, Service: next.Copy()})
		}
	}
}

// put makes s the watcher's view of its version.
func (w *watcher) put(s *registry.Service) {
	versions := w.state[s.Name]
	if versions == nil {
		versions = make(map[string]*registry.Service)
		w.state[s.Name] = versions
	}
	versions[s.Version] = s
}

func sortNodes(nodes []*registry.Node) {
	slices.SortFunc(nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
}

// apply makes svcs the watcher's view of service name and, with emit,
// reports the differences. It returns false once the watcher is stopped.
func (w *watcher) apply(name string, svcs []*registry.Service, emit bool) bool {
	old := w.state[name]
	cur := make(map[string]*registry.Service, len(svcs))
	for _, s := range svcs {
		cur[s.Version] = s
	}
	if len(cur) == 0 {
		delete(w.state, name)
	} else {
		w.state[name] = cur
	}
	if !emit {
		return true
	}
	for _, s := range svcs {
		var ev *registry.Event
		switch o := old[s.Version]; {
		case o == nil:
			ev = &registry.Event{Type: registry.Added, Service: s.Copy()}
		case !reflect.DeepEqual(o, s):
			ev = &registry.Event{Type: registry.Updated, Service: s.Copy()}
		}
		if ev != nil && !w.send(ev) {
			return false
		}
	}
	for version, o := range old {
		if _, ok := cur[version]; !ok {
			if !w.send(&registry.Event{Type: registry.Removed, Service: o.Copy()}) {
				return false
			}
		}
	}
	return true
}

func (w *watcher) send(ev *registry.Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-w.end.Done():
		return false
	}
}

// reconnectPolicy is the wait after the watch lost its connection: doubling
// from 50ms up to 5s, each wait drawn between half of it and all of it.
var reconnectPolicy = backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.5}
