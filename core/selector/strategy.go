package selector

import (
	"context"
	"math/rand/v2"
	"slices"
)

// Strategy decides the order in which the nodes of a service are offered.
// The strategies are RoundRobin, Random and Hash.
type Strategy interface {
	// prepare adds to t whatever the strategy needs that depends only on
	// the nodes, once per change of the nodes.
	prepare(t *table)
	// begin positions a new iterator over t.
	begin(ctx context.Context, st *serviceState, t *table, it *iterator)
}

// RoundRobin offers the nodes in turn: each Select starts one node further
// along than the last Select of the same service, and its Next then walks
// every node once from there. Over many calls each node gets an equal share.
func RoundRobin() Strategy { return roundRobin{} }

// Random starts each Select at a random node and walks the others in a
// random stride, so that retries spread out too.
func Random() Strategy { return random{} }

// Hash places nodes on a consistent-hash ring, DefaultHashReplicas points
// per node, and starts each Select at the point that follows the hash of the
// key set with WithHashKey; Next then walks the ring, so that retries go to
// the nodes that would take over the key. Calls with the same key go to the
// same node; when a node leaves, only the keys it held move. A Select
// without a key is served as by Random.
func Hash() Strategy { return hashRing{replicas: DefaultHashReplicas} }

// DefaultHashReplicas is the number of points each node has on the Hash
// ring.
const DefaultHashReplicas = 100

type roundRobin struct{}

func (roundRobin) prepare(*table) {}

func (roundRobin) begin(_ context.Context, st *serviceState, t *table, it *iterator) {
	n := uint64(len(t.nodes))
	it.start = int((st.counter.Add(1) - 1) % n)
	it.stride = 1
	it.length = int(n)
}

type random struct{}

func (random) prepare(t *table) { t.strides = coprimes(len(t.nodes)) }

func (random) begin(_ context.Context, _ *serviceState, t *table, it *iterator) {
	beginRandom(t, it)
}

func beginRandom(t *table, it *iterator) {
	n := len(t.nodes)
	it.start = rand.IntN(n)
	it.stride = t.strides[rand.IntN(len(t.strides))]
	it.length = n
}

// coprimes returns the strides in [1, n) that visit every one of n positions
// once, that is the numbers coprime with n; {1} if there are none.
func coprimes(n int) []int {
	out := []int{1}
	for s := 2; s < n; s++ {
		if gcd(s, n) == 1 {
			out = append(out, s)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type hashRing struct{ replicas int }

// ringPoint is one point of a node on the ring.
type ringPoint struct {
	hash uint64
	node int // index in table.nodes
}

func (h hashRing) prepare(t *table) {
	t.strides = coprimes(len(t.nodes))
	t.ring = make([]ringPoint, 0, len(t.nodes)*h.replicas)
	for i, c := range t.nodes {
		base := fnv1a(fnvOffset, c.node.ID)
		for r := range h.replicas {
			t.ring = append(t.ring, ringPoint{hash: mix(fnvUint(base, uint64(r))), node: i})
		}
	}
	slices.SortFunc(t.ring, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return a.node - b.node
	})
}

func (h hashRing) begin(ctx context.Context, _ *serviceState, t *table, it *iterator) {
	key, ok := HashKeyFrom(ctx)
	if !ok {
		beginRandom(t, it)
		return
	}
	k := mix(fnv1a(fnvOffset, key))
	// The first point at or after k, wrapping around.
	lo, hi := 0, len(t.ring)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ring[m].hash < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	it.ring = true
	it.start = lo % len(t.ring)
	it.stride = 1
	it.length = len(t.ring)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv1a continues an FNV-1a hash over s.
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// fnvUint continues an FNV-1a hash over the bytes of v.
func fnvUint(h, v uint64) uint64 {
	for range 8 {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// mix spreads the bits of h (the splitmix64 finalizer), since FNV alone
// places similar keys close together on the ring.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
