package nats

import (
	"bytes"
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/internal/natskv"
)

// index keeps every node of the bucket in memory, as the Bucket's
// consumer delivers them, and tells the watchers what changed. Lookup, List
// and Watch read it, so that none of them needs a consumer of its own:
// creating consumers costs the server far more than reading a map.
type index struct {
	r *Registry

	mu       sync.Mutex
	nodes    map[string]*node // by key
	versions map[versionKey]map[string]*node
	watchers map[*watcher]struct{}
	expiry   *time.Timer // fires at the earliest expiry of a node
	expiryAt time.Time   // when expiry fires; zero: not armed
	stopped  bool
}

type versionKey struct{ name, version string }

func newIndex(r *Registry) *index {
	return &index{
		r:        r,
		nodes:    make(map[string]*node),
		versions: make(map[versionKey]map[string]*node),
		watchers: make(map[*watcher]struct{}),
	}
}

// apply applies one message of the bucket.
func (ix *index) apply(key string, seq uint64, m jetstream.Msg) {
	var n *node
	if !natskv.Deleted(m.Headers()) {
		var err error
		n, err = decodeEntry(key, seq, m.Data())
		if err != nil {
			ix.r.log.Debug("nats: ignoring a key that is not a node", "key", key, "err", err)
		}
	}
	now := time.Now()

	ix.mu.Lock()
	defer ix.mu.Unlock()
	switch {
	case n == nil:
		ix.remove(key)
	case !n.live(now):
		ix.r.b.ReapLater(n.key, n.rev)
		ix.remove(key)
	default:
		ix.put(n)
	}
	ix.arm(now)
}

// put adds or replaces a node and tells the watchers. ix.mu is held.
func (ix *index) put(n *node) {
	vk := versionKey{n.svc.Name, n.svc.Version}
	vnodes := ix.versions[vk]
	if vnodes == nil {
		vnodes = make(map[string]*node)
		ix.versions[vk] = vnodes
	}
	old := ix.nodes[n.key]
	wasEmpty := len(vnodes) == 0
	ix.nodes[n.key] = n
	vnodes[n.key] = n
	switch {
	case wasEmpty:
		ix.notify(registry.Added, vk, nil)
	case old == nil || !bytes.Equal(old.svcJSON, n.svcJSON):
		ix.notify(registry.Updated, vk, nil)
	}
	// else: refreshed only
}

// remove takes a node out and tells the watchers. ix.mu is held.
func (ix *index) remove(key string) {
	old := ix.nodes[key]
	if old == nil {
		return
	}
	delete(ix.nodes, key)
	vk := versionKey{old.svc.Name, old.svc.Version}
	vnodes := ix.versions[vk]
	delete(vnodes, key)
	if len(vnodes) == 0 {
		delete(ix.versions, vk)
		ix.notify(registry.Removed, vk, old)
		return
	}
	ix.notify(registry.Updated, vk, nil)
}

// notify queues an event for the watchers of the service: the version as it
// now is or, for Removed, the node that left. ix.mu is held.
func (ix *index) notify(t registry.EventType, vk versionKey, gone *node) {
	var svc *registry.Service
	for w := range ix.watchers {
		if w.service != "" && w.service != vk.name {
			continue
		}
		if svc == nil {
			if t == registry.Removed {
				svc = gone.svc
			} else {
				svc = ix.service(vk)
			}
		}
		w.send(&registry.Event{Type: t, Service: svc.Copy()})
	}
}

// service returns a version as it now is: the fields of its most recently
// written node, and all its nodes sorted by ID. ix.mu is held.
func (ix *index) service(vk versionKey) *registry.Service {
	var latest *node
	nodes := make([]*registry.Node, 0, len(ix.versions[vk]))
	for _, n := range ix.versions[vk] {
		if latest == nil || n.rev > latest.rev {
			latest = n
		}
		nodes = append(nodes, n.svc.Nodes[0])
	}
	svc := *latest.svc // shallow: Copy follows
	svc.Nodes = nodes
	slices.SortFunc(svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	return &svc
}

// arm sets the expiry timer to the earliest expiry of a node. ix.mu is held.
func (ix *index) arm(now time.Time) {
	if ix.stopped {
		return
	}
	var next time.Time
	for _, n := range ix.nodes {
		if !n.expires.IsZero() && (next.IsZero() || n.expires.Before(next)) {
			next = n.expires
		}
	}
	if next.IsZero() || next.Equal(ix.expiryAt) {
		return
	}
	ix.expiryAt = next
	if ix.expiry == nil {
		ix.expiry = time.AfterFunc(next.Sub(now), ix.expire)
	} else {
		ix.expiry.Reset(next.Sub(now))
	}
}

// expire removes the nodes whose expiry has passed.
func (ix *index) expire() {
	now := time.Now()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.expiryAt = time.Time{}
	var gone []*node
	for _, n := range ix.nodes {
		if !n.live(now) {
			gone = append(gone, n)
		}
	}
	slices.SortFunc(gone, func(a, b *node) int { return cmp.Compare(a.key, b.key) })
	for _, n := range gone {
		ix.r.b.ReapLater(n.key, n.rev)
		ix.remove(n.key)
	}
	ix.arm(now)
}

// live returns copies of the live nodes of one service, or of all with
// name "", reaping the expired ones.
func (ix *index) live(name string) []*node {
	now := time.Now()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []*node
	for _, n := range ix.nodes {
		if name != "" && n.svc.Name != name {
			continue
		}
		if !n.live(now) {
			continue // the timer removes it
		}
		c := *n
		c.svc = n.svc.Copy()
		out = append(out, &c)
	}
	return out
}

// addWatcher registers w; its events start with the next change.
func (ix *index) addWatcher(w *watcher) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.stopped {
		return false
	}
	ix.watchers[w] = struct{}{}
	return true
}

func (ix *index) removeWatcher(w *watcher) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.watchers, w)
}

// stop ends the timer and returns the watchers. The Bucket's consumer has
// stopped.
func (ix *index) stop() []*watcher {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.stopped = true
	if ix.expiry != nil {
		ix.expiry.Stop()
	}
	ws := make([]*watcher, 0, len(ix.watchers))
	for w := range ix.watchers {
		ws = append(ws, w)
	}
	return ws
}
