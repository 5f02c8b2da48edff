package nats

import (
	"context"

	"github.com/seedmicro/micro/core/registry"
)

// Watch reports the changes to the registry (to one service, with
// registry.WatchService) made after it returns. The watcher ends when ctx
// ends, when Stop is called, or when the registry is closed.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	o := registry.NewWatchOptions(opts...)
	if r.isClosed() {
		return nil, ErrClosed
	}
	// Every change made before Watch returns is in the index before the
	// watcher is added; every later one reaches the watcher.
	if err := r.b.Sync(ctx); err != nil {
		return nil, r.wrap("watch", err)
	}
	w := &watcher{
		ix:      r.index,
		service: o.Service,
		events:  make(chan *registry.Event, r.cfg.WatchQueue),
	}
	if !r.index.addWatcher(w) {
		return nil, ErrClosed
	}
	w.end.StopWith(ctx, w.Stop)
	return w, nil
}

// watcher receives the events of the index for its service (all with
// service "").
type watcher struct {
	ix      *index
	service string
	events  chan *registry.Event
	end     registry.WatchEnd // by Stop, or ErrWatcherOverflow
}

// send queues an event; a full queue ends the watcher with
// ErrWatcherOverflow, and the index forgets it. The index calls it with its
// lock held.
func (w *watcher) send(ev *registry.Event) {
	if w.end.Err() != nil {
		return
	}
	select {
	case w.events <- ev:
	default:
		delete(w.ix.watchers, w)
		if w.end.End(ErrWatcherOverflow) {
			w.ix.r.log.Warn("nats: watcher fell behind; ended", "queue", cap(w.events))
		}
	}
}

// Next returns the next event; ErrWatcherStopped after Stop or once the
// Watch context is done; ErrWatcherOverflow when the reader fell too far
// behind.
func (w *watcher) Next() (*registry.Event, error) { return w.end.Next(w.events) }

// Stop ends the watch. It is safe to call more than once.
func (w *watcher) Stop() {
	w.end.End(registry.ErrWatcherStopped)
	w.ix.removeWatcher(w)
}
