package local

import (
	"context"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/registry"
)

// Watch reports changes from now on: it scans the directory once before it
// returns, then rescans every WithPollInterval and reports the differences.
// Changes that come and go between two scans are not seen. The watcher ends
// when it is stopped, when ctx is done or when the registry is closed; Next
// then returns registry.ErrWatcherStopped.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	w := &watcher{
		reg:     r,
		service: o.Service,
		events:  make(chan *registry.Event),
	}
	base, err := w.scan()
	if err != nil {
		return nil, err
	}

	r.watchMu.Lock()
	r.life.RLock()
	closed := r.closed
	r.life.RUnlock()
	if closed {
		r.watchMu.Unlock()
		return nil, ErrClosed
	}
	r.watchers[w] = struct{}{}
	w.wg.Add(1)
	r.watchMu.Unlock()

	go w.poll(base)
	w.end.StopWith(ctx, w.Stop)
	return w, nil
}

// watcher polls the directory in its own goroutine and hands events to Next
// one at a time; while its consumer is busy it does not poll.
type watcher struct {
	reg     *Registry
	service string
	events  chan *registry.Event
	end     registry.WatchEnd
	wg      sync.WaitGroup
}

func (w *watcher) scan() (snapshot, error) {
	w.reg.life.RLock()
	defer w.reg.life.RUnlock()
	if w.reg.closed {
		return nil, ErrClosed
	}
	if w.service != "" {
		return w.reg.scanService(context.Background(), w.service)
	}
	return w.reg.scanAll(context.Background())
}

func (w *watcher) poll(last snapshot) {
	defer w.wg.Done()
	ticker := time.NewTicker(w.reg.opts.poll)
	defer ticker.Stop()
	done := w.end.Done()
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		cur, err := w.scan()
		if err != nil {
			// A transient error (a file system hiccup) must not end the
			// watch; the next scan tries again. Close stops the watcher.
			continue
		}
		for _, ev := range diff(last, cur) {
			select {
			case w.events <- ev:
			case <-done:
				return
			}
		}
		last = cur
	}
}

// Next returns the next change, blocking until there is one or the watcher
// ends.
func (w *watcher) Next() (*registry.Event, error) { return w.end.Next(w.events) }

// Stop ends the watcher and waits for its poller to finish.
func (w *watcher) Stop() {
	if !w.end.End(registry.ErrWatcherStopped) {
		return
	}
	w.wg.Wait()
	w.reg.watchMu.Lock()
	delete(w.reg.watchers, w)
	w.reg.watchMu.Unlock()
}
