package nats

import (
	"context"
	"sync"

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
		stop:    make(chan struct{}),
		ended:   make(chan struct{}),
	}
	if !r.index.addWatcher(w) {
		return nil, ErrClosed
	}
	unwatch := context.AfterFunc(ctx, w.Stop)
	w.mu.Lock()
	w.unwatchCtx = unwatch
	w.mu.Unlock()
	return w, nil
}

// watcher receives the events of the index for its service (all with
// service "").
type watcher struct {
	ix         *index
	service    string
	events     chan *registry.Event
	mu         sync.Mutex
	unwatchCtx func() bool // stops the AfterFunc of the Watch context

	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	ended    chan struct{} // closed when the queue overflowed
	endOnce  sync.Once
}

// send queues an event; a full queue ends the watcher with
// ErrWatcherOverflow. The index calls it with its lock held.
func (w *watcher) send(ev *registry.Event) {
	select {
	case <-w.ended:
		return
	default:
	}
	select {
	case w.events <- ev:
	default:
		w.endOnce.Do(func() {
			w.ix.r.log.Warn("nats: watcher fell behind; ended", "queue", cap(w.events))
			close(w.ended)
		})
	}
}

// Next returns the next event; ErrWatcherStopped after Stop or once the
// Watch context is done; ErrWatcherOverflow when the reader fell too far
// behind.
func (w *watcher) Next() (*registry.Event, error) {
	select {
	case <-w.stop:
		return nil, registry.ErrWatcherStopped
	case <-w.ended:
		return nil, ErrWatcherOverflow
	default:
	}
	select {
	case ev := <-w.events:
		return ev, nil
	case <-w.stop:
		return nil, registry.ErrWatcherStopped
	case <-w.ended:
		return nil, ErrWatcherOverflow
	}
}

// Stop ends the watch. It is safe to call more than once.
func (w *watcher) Stop() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.ix.removeWatcher(w)
		w.mu.Lock()
		unwatch := w.unwatchCtx
		w.mu.Unlock()
		if unwatch != nil {
			unwatch()
		}
	})
}
