package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/registry/registrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newRegistry(t *testing.T, opts ...memory.Option) *memory.Registry {
	t.Helper()
	r := memory.New(opts...)
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry { return newRegistry(t) })
}

func svc(name, version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name, Version: version}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{ID: id, Address: "10.0.0.1:" + id})
	}
	return s
}

func TestEvents(t *testing.T) {
	ctx := t.Context()
	r := newRegistry(t)
	w := registrytest.Watch(t, ctx, r)

	steps := []struct {
		name  string
		do    func() error
		typ   registry.EventType
		nodes int
	}{
		{"first node", func() error { return r.Register(ctx, svc("s", "1", "a"), 0) }, registry.Added, 1},
		{"second node", func() error { return r.Register(ctx, svc("s", "1", "b"), 0) }, registry.Updated, 2},
		{"node changed", func() error {
			s := svc("s", "1", "b")
			s.Nodes[0].Address = "elsewhere"
			return r.Register(ctx, s, 0)
		}, registry.Updated, 2},
		{"metadata changed", func() error {
			s := svc("s", "1", "b")
			s.Nodes[0].Address = "elsewhere"
			s.Metadata = map[string]string{"k": "v"}
			return r.Register(ctx, s, 0)
		}, registry.Updated, 2},
		{"node left", func() error { return r.Deregister(ctx, svc("s", "1", "a")) }, registry.Updated, 1},
		{"last node left", func() error { return r.Deregister(ctx, svc("s", "1", "b")) }, registry.Removed, 1},
		{"new version", func() error { return r.Register(ctx, svc("s", "2", "c"), 0) }, registry.Added, 1},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		ev := registrytest.Next(t, w)
		if ev.Type != st.typ || len(ev.Service.Nodes) != st.nodes {
			t.Fatalf("%s: event %v with %d nodes, want %v with %d", st.name, ev.Type, len(ev.Service.Nodes), st.typ, st.nodes)
		}
	}
}

func TestRefreshWithoutChangeIsSilent(t *testing.T) {
	ctx := t.Context()
	r := newRegistry(t)
	w := registrytest.Watch(t, ctx, r)
	for range 3 {
		if err := r.Register(ctx, svc("s", "1", "a"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// A marker registration: if the refreshes had produced events, they
	// would come before it.
	if err := r.Register(ctx, svc("marker", "1", "m"), 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"s", "marker"} {
		if ev := registrytest.Next(t, w); ev.Service.Name != want || ev.Type != registry.Added {
			t.Fatalf("event %v %s, want added %s", ev.Type, ev.Service.Name, want)
		}
	}
}

func TestWatcherOverflow(t *testing.T) {
	ctx := t.Context()
	r := newRegistry(t, memory.WithWatchQueue(4))
	slow := registrytest.Watch(t, ctx, r)
	fast, err := r.Watch(ctx, registry.WatchService("s0"))
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			if err := r.Register(ctx, svc(fmt.Sprintf("s%d", i), "1", "a"), 0); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Register blocked on a watcher that does not read")
	}

	var err2 error
	for range 10 {
		if _, err2 = slow.Next(); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, memory.ErrWatcherOverflow) {
		t.Fatalf("overflowed watcher: Next error = %v, want ErrWatcherOverflow", err2)
	}
	if ev := registrytest.Next(t, fast); ev.Service.Name != "s0" {
		t.Fatalf("the other watcher got %s, want s0", ev.Service.Name)
	}
	slow.Stop()
	if _, err := slow.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next after Stop = %v, want ErrWatcherStopped", err)
	}
}

func TestClose(t *testing.T) {
	r := memory.New()
	if err := r.Register(context.Background(), svc("s", "1", "a"), time.Hour); err != nil { // starts the reaper
		t.Fatal(err)
	}
	registrytest.CheckClose(t, r, memory.ErrClosed)
}

func TestNegativeTTL(t *testing.T) {
	r := newRegistry(t)
	if err := r.Register(t.Context(), svc("s", "1", "a"), -time.Second); err == nil {
		t.Fatal("Register accepted a negative ttl")
	}
}

func Example() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()

	_ = reg.Register(ctx, &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-1", Address: "10.0.0.1:8080"}},
	}, 30*time.Second)
	_ = reg.Register(ctx, &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-2", Address: "10.0.0.2:8080"}},
	}, 30*time.Second)

	services, err := reg.Lookup(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range services {
		for _, n := range s.Nodes {
			fmt.Println(s.Name, s.Version, n.ID, n.Address)
		}
	}

	_, err = reg.Lookup(ctx, "unknown")
	fmt.Println(errors.Is(err, registry.ErrNotFound))
	// Output:
	// greeter 1.0.0 greeter-1 10.0.0.1:8080
	// greeter 1.0.0 greeter-2 10.0.0.2:8080
	// true
}
