package selector_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/cache"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/registry/registrytest"
	"github.com/seedmicro/micro/core/selector"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// counting counts the lookups that reach the registry.
type counting struct {
	registry.Registry
	lookups atomic.Int64
}

func (c *counting) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	c.lookups.Add(1)
	return c.Registry.Lookup(ctx, name)
}

func nodeID(i int) string { return fmt.Sprintf("n%03d", i) }

// setup registers n nodes of service "s" version "1" and returns a Balancer
// over them.
func setup(t testing.TB, n int, opts ...selector.Option) (*memory.Registry, *counting, *selector.Balancer) {
	t.Helper()
	mem := memory.New()
	cnt := &counting{Registry: mem}
	for i := range n {
		register(t, mem, "1", nodeID(i))
	}
	b := selector.New(cnt, opts...)
	t.Cleanup(func() {
		_ = b.Close()
		_ = mem.Close()
	})
	return mem, cnt, b
}

func register(t testing.TB, r registry.Registry, version, id string) {
	t.Helper()
	err := r.Register(context.Background(), &registry.Service{
		Name: "s", Version: version,
		Nodes: []*registry.Node{{ID: id, Address: "addr-" + id}},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
}

func deregister(t testing.TB, r registry.Registry, version, id string) {
	t.Helper()
	err := r.Deregister(context.Background(), &registry.Service{
		Name: "s", Version: version, Nodes: []*registry.Node{{ID: id}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// first returns the first node Select offers.
func first(t testing.TB, ctx context.Context, s selector.Selector) string {
	t.Helper()
	n, err := pick(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

// pick selects service "s" and takes the first node offered.
func pick(ctx context.Context, s selector.Selector) (*registry.Node, error) {
	next, err := s.Select(ctx, "s")
	if err != nil {
		return nil, fmt.Errorf("Select: %w", err)
	}
	n, err := next()
	if err != nil {
		return nil, fmt.Errorf("Next: %w", err)
	}
	return n, nil
}

// all returns every node a Select offers, in order.
func all(t testing.TB, ctx context.Context, s selector.Selector) []string {
	t.Helper()
	next, err := s.Select(ctx, "s")
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	var ids []string
	for {
		n, err := next()
		if errors.Is(err, selector.ErrNoneAvailable) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		ids = append(ids, n.ID)
		if len(ids) > 10000 {
			t.Fatal("Next does not end")
		}
	}
	if _, err := next(); !errors.Is(err, selector.ErrNoneAvailable) {
		t.Fatalf("Next after the end = %v, want ErrNoneAvailable", err)
	}
	return ids
}

func TestRoundRobinRotatesAcrossCalls(t *testing.T) {
	_, _, b := setup(t, 2)
	ctx := t.Context()
	counts := map[string]int{}
	prev := ""
	alternates := true
	for range 1000 {
		id := first(t, ctx, b)
		counts[id]++
		alternates = alternates && id != prev
		prev = id
	}
	for _, id := range []string{nodeID(0), nodeID(1)} {
		if c := counts[id]; c < 400 || c > 600 {
			t.Errorf("node %s got %d of 1000 calls, want 500 ± 100", id, c)
		}
	}
	if !alternates {
		t.Errorf("single-threaded round robin over two nodes should alternate: %v", counts)
	}
}

func TestRandomIsRoughlyUniform(t *testing.T) {
	_, _, b := setup(t, 4, selector.WithStrategy(selector.Random()))
	ctx := t.Context()
	counts := map[string]int{}
	for range 4000 {
		counts[first(t, ctx, b)]++
	}
	for i := range 4 {
		if c := counts[nodeID(i)]; c < 800 || c > 1200 {
			t.Errorf("node %s got %d of 4000 calls, want 1000 ± 200", nodeID(i), c)
		}
	}
}

func TestHash(t *testing.T) {
	mem, _, b := setup(t, 5, selector.WithStrategy(selector.Hash()))
	const keys = 2000
	before := make(map[string]string, keys)
	perNode := map[string]int{}
	for i := range keys {
		key := "user-" + strconv.Itoa(i)
		ctx := selector.WithHashKey(t.Context(), key)
		id := first(t, ctx, b)
		for range 3 {
			if again := first(t, ctx, b); again != id {
				t.Fatalf("key %s went to %s, then to %s", key, id, again)
			}
		}
		before[key] = id
		perNode[id]++
	}
	for i := range 5 {
		// 400 expected; consistent hashing with 100 points per node
		// keeps every node well within a factor of two.
		if c := perNode[nodeID(i)]; c < 200 || c > 800 {
			t.Errorf("node %s holds %d of %d keys, want about %d", nodeID(i), c, keys, keys/5)
		}
	}

	removed := nodeID(2)
	deregister(t, mem, "1", removed)
	registrytest.WaitUntil(t, "the selector to see the node leave", func() bool {
		return !slices.Contains(all(t, t.Context(), b), removed)
	})
	moved := 0
	for key, was := range before {
		now := first(t, selector.WithHashKey(t.Context(), key), b)
		if was != removed && now != was {
			moved++
		}
	}
	if moved > 0 {
		t.Errorf("%d keys moved that were not on the removed node", moved)
	}
}

func TestHashRetriesGoToOtherNodes(t *testing.T) {
	_, _, b := setup(t, 5, selector.WithStrategy(selector.Hash()))
	ctx := selector.WithHashKey(t.Context(), "key")
	seq := all(t, ctx, b)
	if len(seq) != 5 {
		t.Fatalf("Next offered %v, want all 5 nodes", seq)
	}
	if again := all(t, ctx, b); !slices.Equal(again, seq) {
		t.Fatalf("the walk along the ring changed: %v then %v", seq, again)
	}
}

func TestHashWithoutKeyIsRandom(t *testing.T) {
	_, _, b := setup(t, 4, selector.WithStrategy(selector.Hash()))
	counts := map[string]int{}
	for range 2000 {
		counts[first(t, t.Context(), b)]++
	}
	for i := range 4 {
		if c := counts[nodeID(i)]; c < 300 || c > 700 {
			t.Errorf("node %s got %d of 2000 keyless calls, want about 500", nodeID(i), c)
		}
	}
}

func TestHashKeyContext(t *testing.T) {
	if _, ok := selector.HashKeyFrom(t.Context()); ok {
		t.Fatal("HashKeyFrom found a key in a bare context")
	}
	if k, ok := selector.HashKeyFrom(selector.WithHashKey(t.Context(), "k")); !ok || k != "k" {
		t.Fatalf("HashKeyFrom = %q, %v", k, ok)
	}
}

func TestNextOffersEveryNodeOnce(t *testing.T) {
	strategies := []struct {
		name string
		s    selector.Strategy
		ctx  func(context.Context) context.Context
	}{
		{"RoundRobin", selector.RoundRobin(), nil},
		{"Random", selector.Random(), nil},
		{"Hash", selector.Hash(), func(ctx context.Context) context.Context { return selector.WithHashKey(ctx, "k") }},
		{"HashNoKey", selector.Hash(), nil},
	}
	for _, st := range strategies {
		for _, n := range []int{1, 2, 3, 7, 64, 65, 150} {
			t.Run(fmt.Sprintf("%s/%d", st.name, n), func(t *testing.T) {
				_, _, b := setup(t, n, selector.WithStrategy(st.s))
				var want []string
				for i := range n {
					want = append(want, nodeID(i))
				}
				for range 5 {
					ctx := t.Context()
					if st.ctx != nil {
						ctx = st.ctx(ctx)
					}
					got := all(t, ctx, b)
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("Next offered %v, want each of %v once", got, want)
					}
				}
			})
		}
	}
}

func TestAllVersionsAreCandidates(t *testing.T) {
	mem, _, b := setup(t, 1)
	register(t, mem, "2", "v2-node")
	registrytest.WaitUntil(t, "the new version", func() bool { return len(all(t, t.Context(), b)) == 2 })
	got := all(t, t.Context(), b)
	slices.Sort(got)
	if !slices.Equal(got, []string{nodeID(0), "v2-node"}) {
		t.Fatalf("nodes = %v", got)
	}
}

func TestFilter(t *testing.T) {
	onlyV2 := func(_ context.Context, svc *registry.Service, _ *registry.Node) bool { return svc.Version == "2" }
	mem, _, b := setup(t, 3, selector.WithFilter(onlyV2))
	register(t, mem, "2", "v2-a")
	register(t, mem, "2", "v2-b")
	registrytest.WaitUntil(t, "the new version", func() bool { return len(all(t, t.Context(), b)) == 2 })
	for range 10 {
		got := all(t, t.Context(), b)
		slices.Sort(got)
		if !slices.Equal(got, []string{"v2-a", "v2-b"}) {
			t.Fatalf("filtered nodes = %v, want [v2-a v2-b]", got)
		}
	}

	// A filter that rejects everything leaves nothing to offer.
	none := func(context.Context, *registry.Service, *registry.Node) bool { return false }
	_, _, b2 := setup(t, 3, selector.WithFilter(none))
	if got := all(t, t.Context(), b2); len(got) != 0 {
		t.Fatalf("Next offered %v through a filter that rejects all", got)
	}
}

func TestMarkFailureCoolsANodeDown(t *testing.T) {
	_, _, b := setup(t, 3, selector.WithCoolDown(time.Hour))
	ctx := t.Context()
	failed := &registry.Node{ID: nodeID(1)}
	b.Mark("s", failed, errors.New("connection refused"))
	for range 30 {
		seq := all(t, ctx, b)
		if len(seq) != 3 {
			t.Fatalf("Next offered %v, want all 3 nodes", seq)
		}
		if seq[2] != failed.ID {
			t.Fatalf("Next offered %v; the failed node should come last", seq)
		}
	}

	b.Mark("s", failed, nil) // success ends the cool-down
	seen := map[string]bool{}
	for range 30 {
		seen[first(t, ctx, b)] = true
	}
	if !seen[failed.ID] {
		t.Fatal("a node marked healthy again is not offered first")
	}
}

func TestCoolDownEnds(t *testing.T) {
	_, _, b := setup(t, 2, selector.WithCoolDown(20*time.Millisecond))
	ctx := t.Context()
	failed := &registry.Node{ID: nodeID(0)}
	b.Mark("s", failed, errors.New("timeout"))
	registrytest.WaitUntil(t, "the cool-down to end", func() bool { return first(t, ctx, b) == failed.ID })
}

func TestEveryNodeCooledDownIsStillOffered(t *testing.T) {
	_, _, b := setup(t, 3, selector.WithCoolDown(time.Hour))
	for i := range 3 {
		b.Mark("s", &registry.Node{ID: nodeID(i)}, errors.New("down"))
	}
	got := all(t, t.Context(), b)
	slices.Sort(got)
	if !slices.Equal(got, []string{nodeID(0), nodeID(1), nodeID(2)}) {
		t.Fatalf("Next offered %v, want every node even though all cool down", got)
	}
}

func TestMarkIgnores(t *testing.T) {
	tests := []struct {
		name string
		opts []selector.Option
		err  error
	}{
		{"cancelled call", nil, context.Canceled},
		{"cool-down off", []selector.Option{selector.WithCoolDown(0)}, errors.New("down")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, b := setup(t, 2, tt.opts...)
			for range 10 {
				b.Mark("s", &registry.Node{ID: nodeID(0)}, tt.err)
				b.Mark("s", &registry.Node{ID: nodeID(1)}, tt.err)
			}
			b.Mark("s", nil, tt.err)
			b.Mark("unknown", &registry.Node{ID: "x"}, nil)
			// Round robin goes on alternating: nothing cooled down.
			a, c := first(t, t.Context(), b), first(t, t.Context(), b)
			if a == c {
				t.Fatalf("first nodes %s, %s: a node was taken out", a, c)
			}
		})
	}
}

func TestWatchedChangesNeedNoLookup(t *testing.T) {
	mem, cnt, b := setup(t, 2)
	ctx := t.Context()
	for range 100 {
		all(t, ctx, b)
	}
	register(t, mem, "1", "late")
	registrytest.WaitUntil(t, "the added node", func() bool { return slices.Contains(all(t, ctx, b), "late") })
	deregister(t, mem, "1", nodeID(0))
	registrytest.WaitUntil(t, "the removed node", func() bool { return !slices.Contains(all(t, ctx, b), nodeID(0)) })
	if n := cnt.lookups.Load(); n != 1 {
		t.Fatalf("registry lookups = %d, want 1", n)
	}
}

func TestUnknownService(t *testing.T) {
	_, _, b := setup(t, 1)
	_, err := b.Select(t.Context(), "nope")
	if !errors.Is(err, selector.ErrNoneAvailable) || !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Select(unknown) = %v, want ErrNoneAvailable and registry.ErrNotFound", err)
	}
}

func TestSharedCache(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	c := cache.New(mem)
	defer c.Close()
	register(t, mem, "1", "a")
	b := selector.New(c)
	if got := first(t, t.Context(), b); got != "a" {
		t.Fatalf("first = %s", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(t.Context(), "s"); err != nil {
		t.Fatalf("closing the Balancer closed a cache it did not make: %v", err)
	}
}

func TestConcurrentSelectAndMark(t *testing.T) {
	mem, _, b := setup(t, 5, selector.WithCoolDown(time.Millisecond))
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 300 {
				next, err := b.Select(ctx, "s")
				if err != nil {
					t.Error(err)
					return
				}
				n, err := next()
				if err != nil {
					continue // nodes may be leaving
				}
				if i%3 == 0 {
					b.Mark("s", n, errors.New("down"))
				} else {
					b.Mark("s", n, nil)
				}
				if w == 0 && i%50 == 0 {
					err := mem.Register(ctx, &registry.Service{Name: "s", Version: "1",
						Nodes: []*registry.Node{{ID: fmt.Sprintf("extra-%d", i)}}}, 0)
					if err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestSelectAllocations(t *testing.T) {
	_, _, b := setup(t, 3)
	ctx := context.Background()
	first(t, ctx, b) // warm the cache
	allocs := testing.AllocsPerRun(1000, func() {
		next, _ := b.Select(ctx, "s")
		_, _ = next()
	})
	if allocs > 1 {
		t.Fatalf("Select and one Next allocate %v times, want at most 1", allocs)
	}
}

func BenchmarkSelectRoundRobin(b *testing.B) {
	_, _, s := setup(b, 3)
	ctx := context.Background()
	first(b, ctx, s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pick(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelectRoundRobinParallel(b *testing.B) {
	_, _, s := setup(b, 3)
	ctx := context.Background()
	first(b, ctx, s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pick(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSelectHash(b *testing.B) {
	_, _, s := setup(b, 10, selector.WithStrategy(selector.Hash()))
	ctx := selector.WithHashKey(context.Background(), "user-42")
	first(b, ctx, s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pick(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
