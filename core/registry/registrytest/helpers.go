package registrytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/registry"
)

// Closer is a registry.Registry that can be closed.
type Closer interface {
	registry.Registry
	Close() error
}

// CheckClose closes r, which must be open and hold nothing the test
// needs, and checks what a closed registry does: Close again returns nil, a
// watcher opened before ends with registry.ErrWatcherStopped, and every
// method returns errClosed.
func CheckClose(t *testing.T, r Closer, errClosed error) {
	t.Helper()
	ctx := context.Background()
	w, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next after Close = %v, want ErrWatcherStopped", err)
	}
	svc := &registry.Service{Name: "s", Version: "1", Nodes: []*registry.Node{{ID: "a", Address: "127.0.0.1:1"}}}
	calls := map[string]error{}
	calls["Register"] = r.Register(ctx, svc, 0)
	calls["Deregister"] = r.Deregister(ctx, svc)
	_, calls["Lookup"] = r.Lookup(ctx, "s")
	_, calls["List"] = r.List(ctx)
	_, calls["Watch"] = r.Watch(ctx)
	for name, err := range calls {
		if !errors.Is(err, errClosed) {
			t.Errorf("%s after Close = %v, want %v", name, err, errClosed)
		}
	}
}

// WaitUntil polls cond until it holds, failing t after 15 seconds: a
// deadline for what should happen within moments, not a measure of it.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Next returns the next event of w, failing t when Next fails or no event
// comes within 10 seconds (w is then stopped).
func Next(t testing.TB, w registry.Watcher) *registry.Event {
	t.Helper()
	type result struct {
		ev  *registry.Event
		err error
	}
	c := make(chan result, 1)
	go func() {
		ev, err := w.Next()
		c <- result{ev, err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("Next: %v", r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		w.Stop()
		<-c
		t.Fatal("no event within 10s")
		return nil
	}
}

// Watch watches r with ctx and opts, failing t when it cannot, and stops
// the watcher when t ends.
func Watch(t testing.TB, ctx context.Context, r registry.Registry, opts ...registry.WatchOption) registry.Watcher {
	t.Helper()
	w, err := r.Watch(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}
