package selector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/cache"
)

var _ Selector = (*Balancer)(nil)

// Balancer is the Selector of the core. It looks services up through a
// watched cache (see package cache), so that once a service is known,
// selecting a node costs no registry I/O, and changes reach it through the
// registry's watch.
//
// Candidates are the nodes of every version of the service. The Strategy
// decides their order. Next offers each node at most once per Select: first
// the nodes that are not cooling down, in the strategy's order, then, as a
// last resort, the ones that are (a node cools down for WithCoolDown after
// Mark reports a failure). So a node that failed is passed over while
// others remain, and if every node failed recently the calls still go out
// rather than fail at once. Nodes rejected by a Filter are never offered.
//
// A Balancer is safe for concurrent use. Create it with New.
type Balancer struct {
	cache    *cache.Cache
	ownCache bool
	opts     options

	mu       sync.RWMutex
	services map[string]*serviceState

	// slabs hands out iterators in batches, so that Select allocates
	// about once, for the Next closure.
	slabs sync.Pool
}

// serviceState is what the Balancer keeps per service.
type serviceState struct {
	counter atomic.Uint64         // round robin position
	table   atomic.Pointer[table] // derived from the latest Snapshot seen

	nCooled atomic.Int32 // len(cooled), readable without coolMu
	coolMu  sync.Mutex
	cooled  map[string]time.Time // node ID → end of its cool-down
}

// table is the nodes of one Snapshot in a fixed order, plus what the
// strategy derived from them. It is immutable once built.
type table struct {
	snap    *cache.Snapshot
	nodes   []candidate
	strides []int       // Random and Hash: strides that visit every node
	ring    []ringPoint // Hash: the ring, sorted by hash
}

type candidate struct {
	svc  *registry.Service
	node *registry.Node
}

// New returns a Balancer over the services of reg. Unless reg is a
// *cache.Cache already, New puts one in front of it, which Close closes;
// passing a *cache.Cache shares it, and leaves closing it to the caller.
func New(reg registry.Registry, opts ...Option) *Balancer {
	o := options{strategy: RoundRobin(), coolDown: DefaultCoolDown}
	for _, opt := range opts {
		opt.apply(&o)
	}
	b := &Balancer{opts: o, services: make(map[string]*serviceState)}
	if c, ok := reg.(*cache.Cache); ok {
		b.cache = c
	} else {
		b.cache, b.ownCache = cache.New(reg), true
	}
	return b
}

// Close releases the cache the Balancer made. Next functions handed out
// before keep working.
func (b *Balancer) Close() error {
	if b.ownCache {
		return b.cache.Close()
	}
	return nil
}

// Select returns the nodes of service in the order of the strategy. It
// fails if the service cannot be looked up, with an error that matches both
// ErrNoneAvailable and registry.ErrNotFound if it has no nodes. The Next it
// returns is for one caller: it is not safe for concurrent use.
func (b *Balancer) Select(ctx context.Context, service string) (Next, error) {
	snap, err := b.cache.Snapshot(ctx, service)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("%w: service %q: %w", ErrNoneAvailable, service, err)
	}
	if err != nil {
		return nil, fmt.Errorf("selector: look up %q: %w", service, err)
	}
	st := b.state(service, true)
	t := st.table.Load()
	if t == nil || t.snap != snap {
		t = b.build(snap)
		st.table.Store(t)
	}
	if len(t.nodes) == 0 {
		return nil, fmt.Errorf("%w: service %q has no nodes", ErrNoneAvailable, service)
	}

	it := b.newIterator()
	it.b, it.st, it.t = b, st, t
	if len(b.opts.filters) > 0 {
		it.ctx = ctx
	}
	if len(t.nodes) > 64 {
		it.seenBig = make([]uint64, (len(t.nodes)+63)/64)
	}
	b.opts.strategy.begin(ctx, st, t, it)
	return func() (*registry.Node, error) { return it.next() }, nil
}

// Mark records the outcome of a call to node: a nil err ends the node's
// cool-down, any other err starts one (unless WithCoolDown(0)). An err that
// is context.Canceled says nothing about the node and is ignored.
func (b *Balancer) Mark(service string, node *registry.Node, err error) {
	if node == nil || b.opts.coolDown == 0 || errors.Is(err, context.Canceled) {
		return
	}
	st := b.state(service, err != nil)
	if st == nil || (err == nil && st.nCooled.Load() == 0) {
		return
	}
	st.coolMu.Lock()
	defer st.coolMu.Unlock()
	if err == nil {
		if _, ok := st.cooled[node.ID]; ok {
			delete(st.cooled, node.ID)
			st.nCooled.Add(-1)
		}
		return
	}
	now := time.Now()
	// Forget cool-downs that ended, including those of nodes that left.
	for id, until := range st.cooled {
		if !now.Before(until) {
			delete(st.cooled, id)
			st.nCooled.Add(-1)
		}
	}
	if st.cooled == nil {
		st.cooled = make(map[string]time.Time)
	}
	if _, ok := st.cooled[node.ID]; !ok {
		st.nCooled.Add(1)
	}
	st.cooled[node.ID] = now.Add(b.opts.coolDown)
}

// coolingDown reports whether node id is in its cool-down.
func (st *serviceState) coolingDown(id string) bool {
	if st.nCooled.Load() == 0 {
		return false
	}
	st.coolMu.Lock()
	defer st.coolMu.Unlock()
	until, ok := st.cooled[id]
	if !ok {
		return false
	}
	if time.Now().Before(until) {
		return true
	}
	delete(st.cooled, id)
	st.nCooled.Add(-1)
	return false
}

// state returns the state of service, creating it if create is set.
func (b *Balancer) state(service string, create bool) *serviceState {
	b.mu.RLock()
	st := b.services[service]
	b.mu.RUnlock()
	if st != nil || !create {
		return st
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st = b.services[service]; st == nil {
		st = new(serviceState)
		b.services[service] = st
	}
	return st
}

// build derives a table from a Snapshot: the nodes of all versions, ordered
// by node ID (then version) so that the order does not depend on the
// registry.
func (b *Balancer) build(snap *cache.Snapshot) *table {
	t := &table{snap: snap}
	for _, svc := range snap.Services() {
		for _, n := range svc.Nodes {
			t.nodes = append(t.nodes, candidate{svc: svc, node: n})
		}
	}
	slices.SortFunc(t.nodes, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.node.ID, b.node.ID), cmp.Compare(a.svc.Version, b.svc.Version))
	})
	b.opts.strategy.prepare(t)
	return t
}

// iterator walks the positions start, start+stride, ... (mod length) of
// the table's nodes, or of its ring, in up to two passes: the first skips
// nodes that are cooling down, the second offers them.
type iterator struct {
	b   *Balancer
	st  *serviceState
	t   *table
	ctx context.Context // set only when there are filters

	ring                  bool
	start, stride, length int

	step    int // positions visited in this pass
	pass    int // 0: nodes not cooling down; 1: the rest; 2: done
	done    int // nodes offered or filtered out
	seen    uint64
	seenBig []uint64 // replaces seen for more than 64 nodes
}

func (it *iterator) next() (*registry.Node, error) {
	nodes := it.t.nodes
	for it.pass < 2 && it.done < len(nodes) {
		for it.step < it.length {
			pos := (it.start + it.step*it.stride) % it.length
			it.step++
			idx := pos
			if it.ring {
				idx = it.t.ring[pos].node
			}
			if it.isSeen(idx) {
				continue
			}
			c := nodes[idx]
			if !it.accept(c) {
				it.markSeen(idx)
				continue
			}
			if it.pass == 0 && it.st.coolingDown(c.node.ID) {
				continue
			}
			it.markSeen(idx)
			return c.node, nil
		}
		it.pass++
		it.step = 0
	}
	it.pass, it.ctx = 2, nil
	return nil, ErrNoneAvailable
}

func (it *iterator) accept(c candidate) bool {
	for _, f := range it.b.opts.filters {
		if !f(it.ctx, c.svc, c.node) {
			return false
		}
	}
	return true
}

func (it *iterator) isSeen(i int) bool {
	if it.seenBig != nil {
		return it.seenBig[i/64]&(1<<(i%64)) != 0
	}
	return it.seen&(1<<i) != 0
}

func (it *iterator) markSeen(i int) {
	it.done++
	if it.seenBig != nil {
		it.seenBig[i/64] |= 1 << (i % 64)
		return
	}
	it.seen |= 1 << i
}

// iteratorSlab is a batch of iterators allocated together.
type iteratorSlab struct {
	its  [32]iterator
	used int
}

func (b *Balancer) newIterator() *iterator {
	s, _ := b.slabs.Get().(*iteratorSlab)
	if s == nil {
		s = new(iteratorSlab)
	}
	it := &s.its[s.used]
	s.used++
	if s.used < len(s.its) {
		b.slabs.Put(s)
	}
	return it
}
