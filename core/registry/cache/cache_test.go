package cache_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/cache"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/registry/registrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// counting wraps a registry, counts the calls that reach it, and can be
// made to block, fail or misbehave.
type counting struct {
	registry.Registry
	lookups atomic.Int64
	watches atomic.Int64

	gate       chan struct{} // if set, Lookup waits for it to close
	failLookup atomic.Bool
	// watch, if set, replaces Watch.
	watch func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error)
}

func (c *counting) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	c.lookups.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.failLookup.Load() {
		return nil, errors.New("registry unavailable")
	}
	return c.Registry.Lookup(ctx, name)
}

func (c *counting) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	c.watches.Add(1)
	if c.watch != nil {
		return c.watch(ctx, opts...)
	}
	return c.Registry.Watch(ctx, opts...)
}

func setup(t *testing.T, opts ...cache.Option) (*memory.Registry, *counting, *cache.Cache) {
	t.Helper()
	mem := memory.New()
	cnt := &counting{Registry: mem}
	c := cache.New(cnt, opts...)
	t.Cleanup(func() {
		_ = c.Close()
		_ = mem.Close()
	})
	return mem, cnt, c
}

// register registers s in r, failing t when it cannot.
func register(t testing.TB, r registry.Registry, s *registry.Service, ttl time.Duration) {
	t.Helper()
	if err := r.Register(context.Background(), s, ttl); err != nil {
		t.Fatal(err)
	}
}

// wantCalls fails t unless the registry saw n calls, counted by calls.
func wantCalls(t testing.TB, what string, calls *atomic.Int64, n int64) {
	t.Helper()
	if got := calls.Load(); got != n {
		t.Fatalf("registry %s = %d, want %d", what, got, n)
	}
}

func svc(name, version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name, Version: version}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{ID: id, Address: "10.0.0.1:" + id})
	}
	return s
}

// sees reports whether the cache now returns exactly want for name.
func sees(c *cache.Cache, name string, want ...string) func() bool {
	return func() bool {
		got, err := c.Lookup(context.Background(), name)
		if len(want) == 0 {
			return errors.Is(err, registry.ErrNotFound)
		}
		return err == nil && slices.Equal(registrytest.NodeIDs(got), want)
	}
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		mem := memory.New()
		c := cache.New(mem)
		t.Cleanup(func() {
			_ = c.Close()
			_ = mem.Close()
		})
		return c
	})
}

func TestWarmLookupDoesNoIO(t *testing.T) {
	mem, cnt, c := setup(t)
	ctx := t.Context()
	register(t, mem, svc("s", "1", "a"), 0)
	for range 1000 {
		got, err := c.Lookup(ctx, "s")
		if err != nil || !slices.Equal(registrytest.NodeIDs(got), []string{"1:a"}) {
			t.Fatalf("Lookup = %v, %v", registrytest.NodeIDs(got), err)
		}
	}
	wantCalls(t, "lookups", &cnt.lookups, 1)

	// Changes arrive through the watch, not through more lookups.
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"node added", func() error { return mem.Register(ctx, svc("s", "1", "b"), 0) }, []string{"1:a", "1:b"}},
		{"version added", func() error { return mem.Register(ctx, svc("s", "2", "c"), 0) }, []string{"1:a", "1:b", "2:c"}},
		{"node removed", func() error { return mem.Deregister(ctx, svc("s", "1", "a")) }, []string{"1:b", "2:c"}},
		{"version removed", func() error { return mem.Deregister(ctx, svc("s", "1", "b")) }, []string{"2:c"}},
		{"node expired", func() error { return mem.Register(ctx, svc("s", "2", "d"), 10*time.Millisecond) }, []string{"2:c"}},
		{"service removed", func() error { return mem.Deregister(ctx, svc("s", "2", "c")) }, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			registrytest.WaitUntil(t, st.name, sees(c, "s", st.want...))
		})
	}
	wantCalls(t, "lookups", &cnt.lookups, 1)
	wantCalls(t, "watches", &cnt.watches, 1)
}

func TestNotFoundIsCached(t *testing.T) {
	mem, cnt, c := setup(t)
	ctx := t.Context()
	for range 10 {
		if _, err := c.Lookup(ctx, "later"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("Lookup = %v, want ErrNotFound", err)
		}
	}
	wantCalls(t, "lookups", &cnt.lookups, 1)
	register(t, mem, svc("later", "1", "a"), 0)
	registrytest.WaitUntil(t, "the service to appear", sees(c, "later", "1:a"))
	wantCalls(t, "lookups", &cnt.lookups, 1)
}

func TestSnapshotDoesNotAllocate(t *testing.T) {
	mem, _, c := setup(t)
	ctx := context.Background()
	register(t, mem, svc("s", "1", "a"), 0)
	if _, err := c.Snapshot(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.Snapshot(ctx, "s"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("warm Snapshot allocates %v times, want 0", allocs)
	}
}

func TestSnapshotIdentity(t *testing.T) {
	mem, _, c := setup(t)
	ctx := t.Context()
	register(t, mem, svc("s", "1", "a"), 0)
	first, err := c.Snapshot(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Snapshot(ctx, "s"); again != first {
		t.Fatal("unchanged service gave a new Snapshot")
	}
	if first.Name() != "s" || !slices.Equal(registrytest.NodeIDs(first.Services()), []string{"1:a"}) {
		t.Fatalf("Snapshot = %s %v", first.Name(), registrytest.NodeIDs(first.Services()))
	}
	register(t, mem, svc("s", "1", "b"), 0)
	registrytest.WaitUntil(t, "a new Snapshot", func() bool {
		s, err := c.Snapshot(ctx, "s")
		return err == nil && s != first && len(s.Services()[0].Nodes) == 2
	})
	if !slices.Equal(registrytest.NodeIDs(first.Services()), []string{"1:a"}) {
		t.Fatal("an old Snapshot changed")
	}
}

func TestConcurrentFirstLookupsShareOneCall(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	cnt := &counting{Registry: mem, gate: make(chan struct{})}
	c := cache.New(cnt)
	defer c.Close()
	ctx := t.Context()
	register(t, mem, svc("s", "1", "a"), 0)

	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			got, err := c.Lookup(ctx, "s")
			if err == nil && !slices.Equal(registrytest.NodeIDs(got), []string{"1:a"}) {
				err = errors.New("wrong nodes")
			}
			errs <- err
		})
	}
	registrytest.WaitUntil(t, "the first registry lookup", func() bool { return cnt.lookups.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // let the others pile up; the test holds either way
	close(cnt.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantCalls(t, "lookups", &cnt.lookups, 1)
}

func TestCallerCancelDoesNotCancelOthers(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	cnt := &counting{Registry: mem, gate: make(chan struct{})}
	c := cache.New(cnt)
	defer c.Close()
	if err := mem.Register(t.Context(), svc("s", "1", "a"), 0); err != nil {
		t.Fatal(err)
	}

	impatient, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Lookup(impatient, "s")
		errc <- err
	}()
	registrytest.WaitUntil(t, "the registry lookup", func() bool { return cnt.lookups.Load() == 1 })
	patient := make(chan error, 1)
	go func() {
		_, err := c.Lookup(t.Context(), "s")
		patient <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	close(cnt.gate)
	if err := <-patient; err != nil {
		t.Fatalf("patient caller got %v", err)
	}
	wantCalls(t, "lookups", &cnt.lookups, 1)
}

// breakable is a watcher that fails when told to.
type breakable struct {
	registry.Watcher
	broken chan struct{}
	once   sync.Once
}

func (b *breakable) Next() (*registry.Event, error) {
	type result struct {
		ev  *registry.Event
		err error
	}
	c := make(chan result, 1)
	go func() {
		ev, err := b.Watcher.Next()
		c <- result{ev, err}
	}()
	select {
	case r := <-c:
		return r.ev, r.err
	case <-b.broken:
		b.Watcher.Stop()
		<-c
		return nil, errors.New("connection reset")
	}
}

func (b *breakable) breakNow() { b.once.Do(func() { close(b.broken) }) }

func TestWatchFailureReestablishesAndResyncs(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	var mu sync.Mutex
	var current *breakable
	failWatch := atomic.Bool{}
	cnt := &counting{Registry: mem}
	cnt.watch = func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		if failWatch.Load() {
			return nil, errors.New("registry unavailable")
		}
		w, err := mem.Watch(ctx, opts...)
		if err != nil {
			return nil, err
		}
		b := &breakable{Watcher: w, broken: make(chan struct{})}
		mu.Lock()
		current = b
		mu.Unlock()
		return b, nil
	}
	c := cache.New(cnt, cache.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	defer c.Close()
	ctx := t.Context()

	register(t, mem, svc("s", "1", "a"), 0)
	if got, err := c.Lookup(ctx, "s"); err != nil || !slices.Equal(registrytest.NodeIDs(got), []string{"1:a"}) {
		t.Fatalf("Lookup = %v, %v", registrytest.NodeIDs(got), err)
	}

	// The watch breaks, and stays unavailable for a few attempts while the
	// registry changes: the events are lost.
	failWatch.Store(true)
	mu.Lock()
	first := current
	mu.Unlock()
	first.breakNow()
	registrytest.WaitUntil(t, "a failed attempt to rewatch", func() bool { return cnt.watches.Load() >= 3 })
	register(t, mem, svc("s", "1", "b"), 0)
	failWatch.Store(false)

	// Once the watch is back, the cache looks the name up again.
	registrytest.WaitUntil(t, "the change made while the watch was down", sees(c, "s", "1:a", "1:b"))
	if n := cnt.lookups.Load(); n != 2 {
		t.Fatalf("registry lookups = %d, want 2 (first use and resync)", n)
	}
	// And the new watch works.
	register(t, mem, svc("s", "1", "c"), 0)
	registrytest.WaitUntil(t, "a change after the watch came back", sees(c, "s", "1:a", "1:b", "1:c"))
}

// silent is a watcher that never reports anything.
type silent struct {
	ctx  context.Context
	stop chan struct{}
	once sync.Once
}

func (s *silent) Next() (*registry.Event, error) {
	select {
	case <-s.stop:
	case <-s.ctx.Done():
	}
	return nil, registry.ErrWatcherStopped
}

func (s *silent) Stop() { s.once.Do(func() { close(s.stop) }) }

func TestTTLIsASafetyNet(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	cnt := &counting{Registry: mem}
	cnt.watch = func(ctx context.Context, _ ...registry.WatchOption) (registry.Watcher, error) {
		return &silent{ctx: ctx, stop: make(chan struct{})}, nil
	}
	c := cache.New(cnt, cache.WithTTL(50*time.Millisecond))
	defer c.Close()
	ctx := t.Context()
	register(t, mem, svc("s", "1", "a"), 0)
	if _, err := c.Lookup(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	register(t, mem, svc("s", "1", "b"), 0)
	registrytest.WaitUntil(t, "the entry to expire and be looked up again", sees(c, "s", "1:a", "1:b"))
}

func TestServesStaleWhenRegistryFails(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	cnt := &counting{Registry: mem}
	cnt.watch = func(ctx context.Context, _ ...registry.WatchOption) (registry.Watcher, error) {
		return &silent{ctx: ctx, stop: make(chan struct{})}, nil
	}
	c := cache.New(cnt, cache.WithTTL(10*time.Millisecond), cache.WithBackoff(time.Millisecond, time.Millisecond))
	defer c.Close()
	ctx := t.Context()
	register(t, mem, svc("s", "1", "a"), 0)
	if _, err := c.Lookup(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	cnt.failLookup.Store(true)
	// Each Lookup past the TTL starts a refresh in the background, which
	// fails; meanwhile the cached entry is served.
	registrytest.WaitUntil(t, "two failed refreshes", func() bool {
		if got, err := c.Lookup(ctx, "s"); err != nil || !slices.Equal(registrytest.NodeIDs(got), []string{"1:a"}) {
			t.Fatalf("Lookup while the registry fails = %v, %v; want the cached node", registrytest.NodeIDs(got), err)
		}
		return cnt.lookups.Load() >= 3
	})

	// With nothing cached, the error comes through.
	if _, err := c.Lookup(ctx, "other"); err == nil || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup of an uncached name while the registry fails = %v, want its error", err)
	}
}

func TestWritesThroughTheCacheAreReadBack(t *testing.T) {
	_, _, c := setup(t)
	ctx := t.Context()
	if _, err := c.Lookup(ctx, "s"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup = %v, want ErrNotFound", err)
	}
	register(t, c, svc("s", "1", "a"), 0)
	if got, err := c.Lookup(ctx, "s"); err != nil || !slices.Equal(registrytest.NodeIDs(got), []string{"1:a"}) {
		t.Fatalf("Lookup right after Register = %v, %v", registrytest.NodeIDs(got), err)
	}
	if err := c.Deregister(ctx, svc("s", "1", "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, "s"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup right after Deregister = %v, want ErrNotFound", err)
	}
}

func TestClose(t *testing.T) {
	mem, _, c := setup(t)
	ctx := t.Context()
	register(t, mem, svc("s", "1", "a"), 0)
	if _, err := c.Lookup(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Lookup(ctx, "s"); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("Lookup after Close = %v, want ErrClosed", err)
	}
	// The underlying registry stays open.
	if _, err := mem.Lookup(ctx, "s"); err != nil {
		t.Fatalf("registry after closing the cache: %v", err)
	}
}

func BenchmarkLookupWarm(b *testing.B) {
	mem := memory.New()
	defer mem.Close()
	c := cache.New(mem)
	defer c.Close()
	ctx := context.Background()
	if err := mem.Register(ctx, svc("s", "1", "a", "b", "c"), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Snapshot(ctx, "s"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
