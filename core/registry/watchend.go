package registry

import (
	"context"
	"sync"
)

// WatchEnd is the end of a watch, for the Watchers of implementations: it
// comes once, by End (from Stop, or when the implementation gives up on
// the watcher) or when the ctx given to Watch is done, and Next then
// returns its reason. The zero WatchEnd is ready to use.
type WatchEnd struct {
	mu      sync.Mutex
	done    chan struct{}
	err     error
	release func() bool // stops the context.AfterFunc of Watch
}

func (e *WatchEnd) doneLocked() chan struct{} {
	if e.done == nil {
		e.done = make(chan struct{})
	}
	return e.done
}

// StopWith makes the end of ctx call stop, the watcher's Stop; call it
// once the watcher is ready to be stopped.
func (e *WatchEnd) StopWith(ctx context.Context, stop func()) {
	release := context.AfterFunc(ctx, stop)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		release()
		return
	}
	e.release = release
}

// End ends the watch with err, as the reason Next returns, and reports
// whether it was the first call; a later call only replaces the reason.
func (e *WatchEnd) End(err error) bool {
	e.mu.Lock()
	first := e.err == nil
	e.err = err
	release := e.release
	if first {
		close(e.doneLocked())
		e.release = nil
	}
	e.mu.Unlock()
	if first && release != nil {
		release()
	}
	return first
}

// Done is closed once the watch has ended.
func (e *WatchEnd) Done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.doneLocked()
}

// Err is the reason the watch ended, nil while it goes on.
func (e *WatchEnd) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Next returns the next event of events, or the reason once the watch has
// ended, which comes first when both are there.
func (e *WatchEnd) Next(events <-chan *Event) (*Event, error) {
	done := e.Done()
	select {
	case <-done:
		return nil, e.Err()
	default:
	}
	select {
	case ev := <-events:
		return ev, nil
	case <-done:
		return nil, e.Err()
	}
}
