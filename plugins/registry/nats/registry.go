// Package nats is a registry.Registry on a NATS JetStream key-value bucket
// (https://docs.nats.io/nats-concepts/jetstream/key-value-store).
//
// Every node of every service is one key, "<name>.<version>.<node ID>" with
// each part escaped (see the package README), whose value is the service as
// JSON with that one node and the node's expiry. Register puts the keys of
// the nodes and Deregister deletes them.
//
// Each Registry follows the whole bucket with one ordered consumer and keeps
// its nodes in memory: Lookup, List and Watch are served from there, so that
// none of them creates a consumer on the server. Lookup and List first make
// sure the index holds every change the server had stored when they were
// called (one request for the stream's last sequence), so a Lookup sees a
// Register that returned before it, from any process.
//
// # Expiry
//
// A NATS key-value bucket has one age limit for all its keys, and per-key
// time to live needs NATS server 2.11; this registry works with 2.9 and
// later by keeping each node's expiry in its value instead. An expired node
// is invisible at once; a timer removes it from the index, tells the
// watchers, and deletes its key (only if it was not registered again in the
// meantime). Expiry is compared with the local clock, so the clocks of the
// registering and the reading machines must agree within a small part of
// the TTLs used.
//
// # Events
//
// Registering the first node of a version yields Added; a change to the
// nodes, endpoints or metadata of a version yields Updated with the version
// as it now is (a node leaving while others stay is an Updated); a version
// losing its last node, by Deregister or expiry, yields Removed holding the
// node that left. Registering an unchanged node again only moves its expiry.
// A watcher reports the changes made after Watch returns.
package nats

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/internal/natskv"
)

// ErrClosed is returned by every method of a Registry after Close.
var ErrClosed = errors.New("nats: registry closed")

// ErrWatcherOverflow is returned by Watcher.Next when its reader fell more
// than Config.WatchQueue events behind; look up again and watch again.
var ErrWatcherOverflow = errors.New("nats: watcher fell behind and lost events; look up again and rewatch")

var _ registry.Registry = (*Registry)(nil)

// Option configures what a Config cannot: Go values.
type Option = natskv.Option

// WithLogger sets the logger for connection events and unreadable keys.
// Default slog.Default().
func WithLogger(l *slog.Logger) Option { return natskv.WithLogger(l) }

// Registry is a registry.Registry on a NATS key-value bucket. Create it with
// New; it is safe for concurrent use. Close it to release its connection.
type Registry struct {
	cfg   Config
	log   *slog.Logger
	b     *natskv.Bucket
	index *index
}

// New connects to the server of cfg and opens the bucket, creating it when
// it does not exist. ctx bounds the connection and the set-up.
func New(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := natskv.Logger(opts, "registry", "nats", "bucket", cfg.Bucket)
	b, err := natskv.Open(ctx, cfg.Connection, cfg.bucket(), log, ErrClosed)
	if err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, log: log, b: b}
	r.index = newIndex(r)
	if err := b.Follow(ctx, false, r.index.apply); err != nil {
		b.Close(nil)
		return nil, err
	}
	return r, nil
}

// value is the JSON stored under a node's key.
type value struct {
	// Format is 1.
	Format int `json:"format"`
	// Service is the service with this one node.
	Service *registry.Service `json:"service"`
	// Expires is when the node expires, RFC 3339 in UTC; absent: never.
	Expires *time.Time `json:"expires,omitempty"`
}

const format = 1

// node is one decoded key of the bucket.
type node struct {
	key     string
	rev     uint64
	svc     *registry.Service // with its one node
	svcJSON []byte            // the service as stored, to compare
	expires time.Time         // zero: never
}

func (n *node) live(now time.Time) bool { return n.expires.IsZero() || now.Before(n.expires) }

// decodeEntry reads the node of a key-value entry.
func decodeEntry(key string, rev uint64, data []byte) (*node, error) {
	name, version, id, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	var v struct {
		Format  int             `json:"format"`
		Service json.RawMessage `json:"service"`
		Expires *time.Time      `json:"expires"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	if v.Format != format {
		return nil, fmt.Errorf("format %d, want %d", v.Format, format)
	}
	var svc registry.Service
	if err := json.Unmarshal(v.Service, &svc); err != nil {
		return nil, err
	}
	if svc.Name != name || svc.Version != version || len(svc.Nodes) != 1 || svc.Nodes[0] == nil || svc.Nodes[0].ID != id {
		return nil, errors.New("value does not match its key")
	}
	n := &node{key: key, rev: rev, svc: &svc, svcJSON: v.Service}
	if v.Expires != nil {
		n.expires = *v.Expires
	}
	return n, nil
}

func (r *Registry) isClosed() bool { return r.b.Closed() }

func (r *Registry) wrap(op string, err error) error { return r.b.Wrap(op, err) }

// Register puts one key per node of svc, expiring ttl from now (0: never).
// Registering a node again replaces its key and so refreshes it.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if ttl < 0 {
		return errors.New("nats: negative ttl")
	}
	if r.isClosed() {
		return ErrClosed
	}
	v := value{Format: format}
	if ttl > 0 {
		exp := time.Now().Add(ttl).UTC()
		v.Expires = &exp
	}
	for _, n := range svc.Nodes {
		one := svc.Copy()
		one.Nodes = []*registry.Node{n}
		v.Service = one
		data, err := json.Marshal(&v)
		if err != nil {
			return fmt.Errorf("nats: encode %s: %w", svc.Name, err)
		}
		if _, err := r.b.KV.Put(ctx, nodeKey(svc.Name, svc.Version, n.ID), data); err != nil {
			return r.wrap(fmt.Sprintf("register %s node %s", svc.Name, n.ID), err)
		}
	}
	return nil
}

// Deregister deletes the keys of the nodes of svc. Deleting nodes that are
// not registered is not an error.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	for _, n := range svc.Nodes {
		if err := r.b.KV.Delete(ctx, nodeKey(svc.Name, svc.Version, n.ID)); err != nil {
			return r.wrap(fmt.Sprintf("deregister %s node %s", svc.Name, n.ID), err)
		}
	}
	return nil
}

// Lookup returns the live versions of the service, sorted by version, each
// with its live nodes sorted by ID; registry.ErrNotFound when there are
// none. It answers from the registry's index of the bucket, once the index
// holds every change that completed before Lookup was called.
func (r *Registry) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	if err := r.b.Sync(ctx); err != nil {
		return nil, r.wrap("lookup "+name, err)
	}
	svcs := group(r.index.live(name))
	if len(svcs) == 0 {
		return nil, registry.ErrNotFound
	}
	return svcs, nil
}

// List returns every live service version, sorted by name and version.
func (r *Registry) List(ctx context.Context) ([]*registry.Service, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	if err := r.b.Sync(ctx); err != nil {
		return nil, r.wrap("list", err)
	}
	return group(r.index.live("")), nil
}

// group turns nodes into services by name and version, sorted, each with
// the fields of its most recently written node and its nodes sorted by ID.
func group(nodes []*node) []*registry.Service {
	type id struct{ name, version string }
	latest := map[id]uint64{}
	byID := map[id]*registry.Service{}
	for _, n := range nodes {
		k := id{n.svc.Name, n.svc.Version}
		s := byID[k]
		if s == nil || n.rev > latest[k] {
			c := n.svc.Copy()
			if s != nil {
				c.Nodes = s.Nodes
			} else {
				c.Nodes = nil
			}
			s, byID[k], latest[k] = c, c, n.rev
		}
		s.Nodes = append(s.Nodes, n.svc.Nodes[0])
	}
	out := make([]*registry.Service, 0, len(byID))
	for _, s := range byID {
		slices.SortFunc(s.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// Close stops the watchers and closes the connection. The registry is
// unusable afterwards: its methods return ErrClosed.
func (r *Registry) Close() error {
	r.b.Close(func() {
		for _, w := range r.index.stop() {
			w.Stop()
		}
	})
	return nil
}
