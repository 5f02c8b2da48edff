// Package registrytest is the conformance suite every registry.Registry
// implementation must pass.
//
// An implementation's tests call Run with a constructor:
//
//	func TestConformance(t *testing.T) {
//		registrytest.Run(t, func(t *testing.T) registry.Registry {
//			r := memory.New()
//			t.Cleanup(func() { r.Close() })
//			return r
//		})
//	}
//
// The suite is written for registries that are remote, shared and slow: every
// subtest uses service names of its own (so a registry holding other services
// is fine), deregisters what it registered, and waits for asynchronous effects
// (expiry, watch events) by polling with generous deadlines rather than by
// sleeping for a fixed time. Run does not call t.Parallel.
package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/registry"
)

// Timing used by the suite. Short TTLs keep the suite quick; the deadlines
// are long so that slow registries (remote, or behind a process bridge) pass.
const (
	shortTTL  = time.Second
	eventWait = 10 * time.Second // how long to wait for an event or an expiry
	pollEvery = 25 * time.Millisecond
)

// Run runs the conformance suite against registries made by newRegistry,
// which is called once per subtest with that subtest's t. It should register
// any cleanup (closing the registry) with t.Cleanup.
func Run(t *testing.T, newRegistry func(t *testing.T) registry.Registry) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, r registry.Registry)
	}{
		{"RegisterLookup", testRegisterLookup},
		{"LookupUnknown", testLookupUnknown},
		{"NodesMerge", testNodesMerge},
		{"MultipleVersions", testMultipleVersions},
		{"DeregisterOneNode", testDeregisterOneNode},
		{"DeregisterLastNode", testDeregisterLastNode},
		{"DeregisterUnknown", testDeregisterUnknown},
		{"List", testList},
		{"TTLExpiry", testTTLExpiry},
		{"ReregisterRefreshesTTL", testReregisterRefreshesTTL},
		{"Watch", testWatch},
		{"WatchExpiry", testWatchExpiry},
		{"WatchServiceFilter", testWatchServiceFilter},
		{"WatcherStop", testWatcherStop},
		{"WatchContextCancel", testWatchContextCancel},
		{"ReturnsCopies", testReturnsCopies},
		{"Invalid", testInvalid},
		{"ConcurrentRegister", testConcurrentRegister},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			if r == nil {
				t.Fatal("newRegistry returned nil")
			}
			tt.fn(t, r)
		})
	}
}

// uniqueName returns a service name that no other test run uses.
func uniqueName(hint string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "registrytest-" + hint + "-" + hex.EncodeToString(b[:])
}

func newService(name, version string, nodeIDs ...string) *registry.Service {
	s := &registry.Service{
		Name:     name,
		Version:  version,
		Metadata: map[string]string{"team": "conformance"},
		Endpoints: []*registry.Endpoint{{
			Name:     "Greeter.Hello",
			Request:  &registry.Value{Name: "HelloRequest", Type: "struct", Fields: []*registry.Value{{Name: "name", Type: "string"}}},
			Response: &registry.Value{Name: "HelloResponse", Type: "struct"},
			Metadata: map[string]string{"stream": "false"},
		}},
	}
	for _, id := range nodeIDs {
		s.Nodes = append(s.Nodes, &registry.Node{
			ID:       id,
			Address:  "127.0.0.1:" + id,
			Metadata: map[string]string{"node": id},
		})
	}
	return s
}

// register registers svc and deregisters it when the test ends.
func register(t *testing.T, r registry.Registry, svc *registry.Service, ttl time.Duration) {
	t.Helper()
	if err := r.Register(t.Context(), svc, ttl); err != nil {
		t.Fatalf("Register(%s %s): %v", svc.Name, svc.Version, err)
	}
	cp := svc.Copy()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Deregister(ctx, cp)
	})
}

func deregister(t *testing.T, r registry.Registry, svc *registry.Service) {
	t.Helper()
	if err := r.Deregister(t.Context(), svc); err != nil {
		t.Fatalf("Deregister(%s %s): %v", svc.Name, svc.Version, err)
	}
}

func lookup(t *testing.T, r registry.Registry, name string) []*registry.Service {
	t.Helper()
	svcs, err := r.Lookup(t.Context(), name)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", name, err)
	}
	return svcs
}

// NodeIDs returns "version:id" for every node of svcs, sorted.
func NodeIDs(svcs []*registry.Service) []string {
	var ids []string
	for _, s := range svcs {
		for _, n := range s.Nodes {
			ids = append(ids, s.Version+":"+n.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func hasNode(s *registry.Service, id string) bool {
	return slices.ContainsFunc(s.Nodes, func(n *registry.Node) bool { return n.ID == id })
}

// eventually polls cond until it holds or eventWait passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s; last state: %s", eventWait, what, state)
		}
		time.Sleep(pollEvery)
	}
}

// lookupState summarises a Lookup for polling: its node IDs or its error.
func lookupState(r registry.Registry, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	svcs, err := r.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	return NodeIDs(svcs), nil
}

func checkService(t *testing.T, got, want *registry.Service) {
	t.Helper()
	if got.Name != want.Name || got.Version != want.Version {
		t.Errorf("service = %s %s, want %s %s", got.Name, got.Version, want.Name, want.Version)
	}
	if got.Metadata["team"] != want.Metadata["team"] {
		t.Errorf("service metadata = %v, want %v", got.Metadata, want.Metadata)
	}
	if len(got.Endpoints) != len(want.Endpoints) {
		t.Fatalf("endpoints = %d, want %d", len(got.Endpoints), len(want.Endpoints))
	}
	for i, e := range got.Endpoints {
		w := want.Endpoints[i]
		if e.Name != w.Name || e.Metadata["stream"] != w.Metadata["stream"] {
			t.Errorf("endpoint %d = %+v, want %+v", i, e, w)
		}
		if e.Request == nil || e.Request.Name != w.Request.Name || len(e.Request.Fields) != len(w.Request.Fields) {
			t.Errorf("endpoint %d request = %+v, want %+v", i, e.Request, w.Request)
		}
		if e.Response == nil || e.Response.Name != w.Response.Name {
			t.Errorf("endpoint %d response = %+v, want %+v", i, e.Response, w.Response)
		}
	}
	for _, wn := range want.Nodes {
		i := slices.IndexFunc(got.Nodes, func(n *registry.Node) bool { return n.ID == wn.ID })
		if i < 0 {
			t.Errorf("node %s missing from %s", wn.ID, got.Name)
			continue
		}
		gn := got.Nodes[i]
		if gn.Address != wn.Address || gn.Metadata["node"] != wn.Metadata["node"] {
			t.Errorf("node = %+v, want %+v", gn, wn)
		}
	}
}

func testRegisterLookup(t *testing.T, r registry.Registry) {
	name := uniqueName("lookup")
	svc := newService(name, "1.0.0", "a")
	register(t, r, svc, 0)
	got := lookup(t, r, name)
	if len(got) != 1 {
		t.Fatalf("Lookup returned %d services, want 1", len(got))
	}
	checkService(t, got[0], svc)
	if len(got[0].Nodes) != 1 {
		t.Errorf("nodes = %d, want 1", len(got[0].Nodes))
	}
}

func testLookupUnknown(t *testing.T, r registry.Registry) {
	_, err := r.Lookup(t.Context(), uniqueName("unknown"))
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup(unknown) error = %v, want registry.ErrNotFound", err)
	}
}

func testNodesMerge(t *testing.T, r registry.Registry) {
	name := uniqueName("merge")
	register(t, r, newService(name, "1.0.0", "a"), 0)
	register(t, r, newService(name, "1.0.0", "b"), 0)
	// Registering a known node again replaces it rather than duplicating it.
	again := newService(name, "1.0.0", "a")
	again.Nodes[0].Address = "127.0.0.1:9999"
	register(t, r, again, 0)

	got := lookup(t, r, name)
	if ids := NodeIDs(got); !slices.Equal(ids, []string{"1.0.0:a", "1.0.0:b"}) {
		t.Fatalf("nodes = %v, want [1.0.0:a 1.0.0:b]", ids)
	}
	for _, n := range got[0].Nodes {
		if n.ID == "a" && n.Address != "127.0.0.1:9999" {
			t.Errorf("node a address = %q, want the re-registered 127.0.0.1:9999", n.Address)
		}
	}
}

func testMultipleVersions(t *testing.T, r registry.Registry) {
	name := uniqueName("versions")
	v1 := newService(name, "1.0.0", "a")
	v2 := newService(name, "2.0.0", "b")
	register(t, r, v1, 0)
	register(t, r, v2, 0)
	got := lookup(t, r, name)
	if len(got) != 2 {
		t.Fatalf("Lookup returned %d versions, want 2", len(got))
	}
	if ids := NodeIDs(got); !slices.Equal(ids, []string{"1.0.0:a", "2.0.0:b"}) {
		t.Fatalf("nodes = %v, want [1.0.0:a 2.0.0:b]", ids)
	}
	for _, s := range got {
		want := v1
		if s.Version == "2.0.0" {
			want = v2
		}
		checkService(t, s, want)
	}

	deregister(t, r, v1)
	if ids := NodeIDs(lookup(t, r, name)); !slices.Equal(ids, []string{"2.0.0:b"}) {
		t.Fatalf("after deregistering 1.0.0: nodes = %v, want [2.0.0:b]", ids)
	}
}

func testDeregisterOneNode(t *testing.T, r registry.Registry) {
	name := uniqueName("dereg-one")
	register(t, r, newService(name, "1.0.0", "a", "b"), 0)
	register(t, r, newService(name, "1.0.0", "c"), 0)
	deregister(t, r, newService(name, "1.0.0", "b"))
	if ids := NodeIDs(lookup(t, r, name)); !slices.Equal(ids, []string{"1.0.0:a", "1.0.0:c"}) {
		t.Fatalf("nodes = %v, want [1.0.0:a 1.0.0:c]", ids)
	}
}

func testDeregisterLastNode(t *testing.T, r registry.Registry) {
	name := uniqueName("dereg-last")
	register(t, r, newService(name, "1.0.0", "a"), 0)
	deregister(t, r, newService(name, "1.0.0", "a"))
	if _, err := r.Lookup(t.Context(), name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup after deregistering the last node: error = %v, want registry.ErrNotFound", err)
	}
	all, err := r.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, s := range all {
		if s.Name == name {
			t.Fatalf("List still has %s after its last node was deregistered", name)
		}
	}
}

func testDeregisterUnknown(t *testing.T, r registry.Registry) {
	if err := r.Deregister(t.Context(), newService(uniqueName("dereg-unknown"), "1.0.0", "a")); err != nil {
		t.Fatalf("Deregister of an unknown service: %v, want nil", err)
	}
}

func testList(t *testing.T, r registry.Registry) {
	a := uniqueName("list-a")
	b := uniqueName("list-b")
	register(t, r, newService(a, "1.0.0", "a1"), 0)
	register(t, r, newService(b, "1.0.0", "b1"), 0)
	register(t, r, newService(b, "2.0.0", "b2"), 0)
	all, err := r.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var mine []string
	for _, s := range all {
		if s.Name == a || s.Name == b {
			for _, n := range s.Nodes {
				mine = append(mine, s.Name+"/"+s.Version+"/"+n.ID)
			}
		}
	}
	slices.Sort(mine)
	want := []string{a + "/1.0.0/a1", b + "/1.0.0/b1", b + "/2.0.0/b2"}
	slices.Sort(want)
	if !slices.Equal(mine, want) {
		t.Fatalf("List has %v, want %v", mine, want)
	}
}

func testTTLExpiry(t *testing.T, r registry.Registry) {
	name := uniqueName("ttl")
	only := uniqueName("ttl-only")
	register(t, r, newService(name, "1.0.0", "short"), shortTTL)
	register(t, r, newService(name, "1.0.0", "forever"), 0)
	register(t, r, newService(only, "1.0.0", "a"), shortTTL)
	if ids := NodeIDs(lookup(t, r, name)); !slices.Equal(ids, []string{"1.0.0:forever", "1.0.0:short"}) {
		t.Fatalf("right after Register: nodes = %v, want both", ids)
	}
	eventually(t, "the node with a ttl should expire; the one without should stay", func() (bool, string) {
		ids, err := lookupState(r, name)
		return err == nil && slices.Equal(ids, []string{"1.0.0:forever"}), fmt.Sprint(ids, err)
	})
	eventually(t, "a service whose only node expired should not be found", func() (bool, string) {
		ids, err := lookupState(r, only)
		return errors.Is(err, registry.ErrNotFound), fmt.Sprint(ids, err)
	})
	all, err := r.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, s := range all {
		if s.Name == only {
			t.Fatalf("List still has %s after it expired", only)
		}
	}
}

func testReregisterRefreshesTTL(t *testing.T, r registry.Registry) {
	name := uniqueName("refresh")
	svc := newService(name, "1.0.0", "a")
	// Refresh at a small fraction of the TTL, for twice the TTL, and look
	// up just before each refresh: the service must be there every time.
	ttl := shortTTL + shortTTL/2
	start := time.Now()
	for time.Since(start) < 2*ttl {
		register(t, r, svc, ttl)
		time.Sleep(ttl / 6)
		if _, err := r.Lookup(t.Context(), name); err != nil {
			t.Fatalf("Lookup %v after the first Register, %v after the latest refresh: %v",
				time.Since(start).Round(time.Millisecond), ttl/6, err)
		}
	}
	eventually(t, "once refreshes stop, the service should expire", func() (bool, string) {
		ids, err := lookupState(r, name)
		return errors.Is(err, registry.ErrNotFound), fmt.Sprint(ids, err)
	})
}

// stream collects the events of a watcher on a channel.
type stream struct {
	w      registry.Watcher
	events chan *registry.Event
	err    chan error
}

func watch(t *testing.T, r registry.Registry, opts ...registry.WatchOption) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.Watch(ctx, opts...)
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	s := &stream{w: w, events: make(chan *registry.Event, 1024), err: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			ev, err := w.Next()
			if err != nil {
				s.err <- err
				close(s.events)
				return
			}
			select {
			case s.events <- ev:
			default:
				s.err <- errors.New("registrytest: more than 1024 unread events")
				close(s.events)
				return
			}
		}
	})
	t.Cleanup(func() {
		w.Stop()
		cancel()
		wg.Wait()
	})
	return s
}

// waitFor reads events until one for service name satisfies match, skipping
// events for other services.
func (s *stream) waitFor(t *testing.T, name, what string, match func(*registry.Event) bool) *registry.Event {
	t.Helper()
	timeout := time.After(eventWait)
	var seen []string
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("watch ended while waiting for %s: %v (events seen: %v)", what, <-s.err, seen)
			}
			if ev == nil || ev.Service == nil {
				t.Fatalf("watch yielded an event without a service: %+v", ev)
			}
			if ev.Service.Name != name {
				continue
			}
			seen = append(seen, describe(ev))
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event %s within %v (events for %s: %v)", what, eventWait, name, seen)
		}
	}
}

func describe(ev *registry.Event) string {
	var ids []string
	for _, n := range ev.Service.Nodes {
		ids = append(ids, n.ID)
	}
	return fmt.Sprintf("%s %s@%s[%s]", ev.Type, ev.Service.Name, ev.Service.Version, strings.Join(ids, ","))
}

func testWatch(t *testing.T, r registry.Registry) {
	name := uniqueName("watch")
	other := uniqueName("watch-other")
	s := watch(t, r)

	register(t, r, newService(other, "1.0.0", "x"), 0)
	register(t, r, newService(name, "1.0.0", "a"), 0)
	ev := s.waitFor(t, name, "Added with node a", func(ev *registry.Event) bool {
		return ev.Type == registry.Added && hasNode(ev.Service, "a")
	})
	checkService(t, ev.Service, newService(name, "1.0.0", "a"))

	register(t, r, newService(name, "1.0.0", "b"), 0)
	s.waitFor(t, name, "Added or Updated with node b", func(ev *registry.Event) bool {
		return (ev.Type == registry.Updated || ev.Type == registry.Added) && hasNode(ev.Service, "b")
	})

	// A node leaving while another stays may be reported either as an
	// Updated without it or as a Removed holding it.
	deregister(t, r, newService(name, "1.0.0", "a"))
	s.waitFor(t, name, "for node a leaving", func(ev *registry.Event) bool {
		return (ev.Type == registry.Updated && !hasNode(ev.Service, "a") && hasNode(ev.Service, "b")) ||
			(ev.Type == registry.Removed && hasNode(ev.Service, "a"))
	})

	deregister(t, r, newService(name, "1.0.0", "b"))
	ev = s.waitFor(t, name, "Removed with node b", func(ev *registry.Event) bool {
		return ev.Type == registry.Removed && hasNode(ev.Service, "b")
	})
	if ev.Service.Version != "1.0.0" {
		t.Errorf("Removed event version = %q, want 1.0.0", ev.Service.Version)
	}
}

func testWatchExpiry(t *testing.T, r registry.Registry) {
	name := uniqueName("watch-ttl")
	s := watch(t, r, registry.WatchService(name))
	register(t, r, newService(name, "1.0.0", "a"), shortTTL)
	s.waitFor(t, name, "Added", func(ev *registry.Event) bool { return ev.Type == registry.Added })
	s.waitFor(t, name, "Removed once the node expired", func(ev *registry.Event) bool {
		return ev.Type == registry.Removed && hasNode(ev.Service, "a")
	})
}

func testWatchServiceFilter(t *testing.T, r registry.Registry) {
	name := uniqueName("filter")
	other := uniqueName("filter-other")
	s := watch(t, r, registry.WatchService(name))
	// The other service changes first: a watch that ignored the filter
	// would see it before the event it waits for.
	register(t, r, newService(other, "1.0.0", "x"), 0)
	deregister(t, r, newService(other, "1.0.0", "x"))
	register(t, r, newService(name, "1.0.0", "a"), 0)

	timeout := time.After(eventWait)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("watch ended: %v", <-s.err)
			}
			if ev.Service.Name != name {
				t.Fatalf("watch filtered on %s yielded %s", name, describe(ev))
			}
			if ev.Type == registry.Added {
				return
			}
		case <-timeout:
			t.Fatalf("no Added event for %s within %v", name, eventWait)
		}
	}
}

func testWatcherStop(t *testing.T, r registry.Registry) {
	w, err := r.Watch(t.Context(), registry.WatchService(uniqueName("stop")))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next()
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond) // let Next block; the test passes either way
	w.Stop()
	select {
	case err := <-errc:
		if !errors.Is(err, registry.ErrWatcherStopped) {
			t.Fatalf("Next blocked during Stop returned %v, want registry.ErrWatcherStopped", err)
		}
	case <-time.After(eventWait):
		t.Fatalf("Next still blocked %v after Stop", eventWait)
	}
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next after Stop returned %v, want registry.ErrWatcherStopped", err)
	}
	w.Stop() // a second Stop is harmless
}

func testWatchContextCancel(t *testing.T, r registry.Registry) {
	ctx, cancel := context.WithCancel(t.Context())
	w, err := r.Watch(ctx, registry.WatchService(uniqueName("cancel")))
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next()
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, registry.ErrWatcherStopped) {
			t.Fatalf("Next after the watch context was cancelled returned %v, want registry.ErrWatcherStopped", err)
		}
	case <-time.After(eventWait):
		t.Fatalf("Next still blocked %v after its context was cancelled", eventWait)
	}
}

func testReturnsCopies(t *testing.T, r registry.Registry) {
	name := uniqueName("copies")
	svc := newService(name, "1.0.0", "a")
	register(t, r, svc, 0)

	// Changing what was registered must not change the registry.
	svc.Metadata["team"] = "changed"
	svc.Nodes[0].Address = "changed"
	svc.Endpoints[0].Name = "changed"

	mutate := func(svcs []*registry.Service) {
		for _, s := range svcs {
			s.Name = "changed"
			s.Metadata["team"] = "changed"
			s.Endpoints[0].Name = "changed"
			s.Endpoints[0].Request.Fields[0].Name = "changed"
			s.Nodes[0].Address = "changed"
			s.Nodes[0].Metadata["node"] = "changed"
			s.Nodes = append(s.Nodes, &registry.Node{ID: "extra"})
		}
	}
	mutate(lookup(t, r, name))
	all, err := r.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	mutate(slices.DeleteFunc(all, func(s *registry.Service) bool { return s.Name != name }))

	got := lookup(t, r, name)
	if len(got) != 1 {
		t.Fatalf("Lookup returned %d services, want 1", len(got))
	}
	checkService(t, got[0], newService(name, "1.0.0", "a"))
	if len(got[0].Nodes) != 1 {
		t.Fatalf("nodes = %d, want 1", len(got[0].Nodes))
	}
	if f := got[0].Endpoints[0].Request.Fields[0].Name; f != "name" {
		t.Fatalf("request field = %q, want name", f)
	}
}

func testInvalid(t *testing.T, r registry.Registry) {
	tests := []struct {
		name string
		svc  *registry.Service
	}{
		{"nil", nil},
		{"no name", &registry.Service{Version: "1.0.0", Nodes: []*registry.Node{{ID: "a", Address: "127.0.0.1:1"}}}},
		{"no nodes", &registry.Service{Name: uniqueName("invalid"), Version: "1.0.0"}},
		{"node without ID", &registry.Service{Name: uniqueName("invalid"), Nodes: []*registry.Node{{Address: "127.0.0.1:1"}}}},
		{"nil node", &registry.Service{Name: uniqueName("invalid"), Nodes: []*registry.Node{nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.Register(t.Context(), tt.svc, 0); err == nil {
				if tt.svc != nil {
					_ = r.Deregister(t.Context(), tt.svc)
				}
				t.Fatal("Register accepted an invalid service")
			}
		})
	}
}

func testConcurrentRegister(t *testing.T, r registry.Registry) {
	name := uniqueName("concurrent")
	const workers, perWorker = 8, 5
	for w := range workers {
		for i := range perWorker {
			svc := newService(name, "1.0.0", fmt.Sprintf("w%d-n%d", w, i))
			t.Cleanup(func() { _ = r.Deregister(context.Background(), svc) })
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				svc := newService(name, "1.0.0", fmt.Sprintf("w%d-n%d", w, i))
				if err := r.Register(t.Context(), svc, 0); err != nil {
					errs <- err
				}
				if _, err := r.Lookup(t.Context(), name); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Register/Lookup: %v", err)
	}
	got := lookup(t, r, name)
	if n := len(NodeIDs(got)); n != workers*perWorker {
		t.Fatalf("nodes = %d, want %d", n, workers*perWorker)
	}
}
