// Package redis is a registry.Registry on Redis: one hash per node, with the
// node's TTL as the key's expiry, an index of the nodes of each service, and
// a pub/sub channel on which every change is announced.
//
// # Data
//
// With the default prefix "micro:registry:", node n of version v of service
// s is the hash "micro:registry:node:<s>:<v>:<n>" (":" and "%" in the names
// written as %3A and %25) with the fields "service" (the service's name,
// version, metadata and endpoints as JSON), "node" (the node as JSON) and
// "seq" (the server time of the node's last change, in microseconds); it
// expires ttl after the Register that wrote it. "micro:registry:service:<s>"
// is the set of the node keys of s, "micro:registry:services" the set of
// service names, and "micro:registry:expiry" a sorted set of the node keys
// with a TTL, scored by when they expire (Unix milliseconds, by the server's
// clock). Every change runs in one Lua script, so it is atomic.
//
// # Watch
//
// Every change is announced on the pub/sub channel "micro:registry:events"
// as a JSON Announcement: Register and Deregister publish one when they
// change something. Redis removes an expired node by itself; a sweep, run by
// Register and by every watcher each Config.SweepInterval, finds the nodes
// whose expiry has passed, drops them from the indexes and announces them.
// A watcher keeps the services it watches as it last reported them and
// applies each announcement to that view: Added for a version that
// appears, Updated for a version whose nodes, metadata or endpoints change
// (a node leaving while others stay is an Updated), Removed (with the nodes
// that left) for a version whose last node leaves. Re-registering an
// unchanged node announces nothing. Pub/sub is at-most-once, so a watcher
// also compares its view with a full scan after it reconnects and every
// Config.ResyncInterval, and reports the differences. Keyspace notifications
// are not used: the server needs no configuration.
//
// When nodes of one version register different metadata or endpoints, the
// latest change wins.
package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/internal/redisconn"
)

// ErrClosed is returned by the methods of a closed Registry.
var ErrClosed = errors.New("registry/redis: closed")

// sweepLua removes the nodes whose expiry has passed from the indexes and
// announces each with an "expire" announcement. KEYS: expiry, services.
// ARGV: prefix, channel, limit. It returns how many nodes it looked at.
const sweepLua = `
local function unescape(s)
  return (string.gsub(s, '%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end))
end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function sweep(expiry, services, prefix, channel, limit)
  local now = nowms()
  local due = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, limit)
  for _, key in ipairs(due) do
    local ttl = redis.call('PTTL', key)
    if ttl >= 0 then
      -- Not expired yet (the clock of a script stands still while it runs).
      redis.call('ZADD', expiry, now + math.max(ttl, 1), key)
    else
      redis.call('ZREM', expiry, key)
    end
    if ttl == -2 then
      local name, version, id = string.match(string.sub(key, #prefix + 1), '^node:([^:]*):([^:]*):(.*)$')
      if name then
        local index = prefix .. 'service:' .. name
        redis.call('SREM', index, key)
        if redis.call('SCARD', index) == 0 then
          redis.call('SREM', services, unescape(name))
        end
        redis.call('PUBLISH', channel, cjson.encode({op = 'expire', service = {
          name = unescape(name), version = unescape(version), nodes = {{id = unescape(id)}}}}))
      end
    end
  end
  return #due
end
`

var sweepScript = goredis.NewScript(sweepLua + `
return sweep(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]))
`)

// registerScript writes nodes. KEYS: expiry, services, index, then one node
// key per node. ARGV: prefix, channel, name, service JSON, ttl in ms (0:
// none), announcement, then one node JSON per node. It sweeps first. When
// something changed it publishes the announcement and returns 1.
var registerScript = goredis.NewScript(sweepLua + `
sweep(KEYS[1], KEYS[2], ARGV[1], ARGV[2], 100)
local t = redis.call('TIME')
local seq = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]
local now = nowms()
local head, ttl = ARGV[4], tonumber(ARGV[5])
local changed = false
for i = 4, #KEYS do
  local key, node = KEYS[i], ARGV[i + 3]
  local old = redis.call('HMGET', key, 'service', 'node')
  if old[1] ~= head or old[2] ~= node then
    changed = true
    redis.call('HSET', key, 'service', head, 'node', node, 'seq', seq)
  end
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
    redis.call('ZADD', KEYS[1], now + ttl, key)
  else
    redis.call('PERSIST', key)
    redis.call('ZREM', KEYS[1], key)
  end
  redis.call('SADD', KEYS[3], key)
end
redis.call('SADD', KEYS[2], ARGV[3])
if changed then
  redis.call('PUBLISH', ARGV[2], ARGV[6])
  return 1
end
return 0
`)

// deregisterScript removes nodes. KEYS: expiry, services, index, then the
// node keys. ARGV: channel, name, announcement. When a node was there it
// publishes the announcement and returns 1.
var deregisterScript = goredis.NewScript(`
local changed = false
for i = 4, #KEYS do
  if redis.call('DEL', KEYS[i]) == 1 then
    changed = true
  end
  redis.call('SREM', KEYS[3], KEYS[i])
  redis.call('ZREM', KEYS[1], KEYS[i])
end
if redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
if changed then
  redis.call('PUBLISH', ARGV[1], ARGV[3])
  return 1
end
return 0
`)

// Announcement is what the registry publishes on its channel for every
// change, as JSON.
type Announcement struct {
	// Op is OpRegister, OpDeregister or OpExpire.
	Op string `json:"op"`
	// Service is the version that changed and the nodes concerned: for
	// OpRegister the nodes as registered, with the service's metadata and
	// endpoints; for OpDeregister and OpExpire the nodes that left, of
	// which only the IDs count.
	Service *registry.Service `json:"service"`
}

// The operations of an Announcement.
const (
	OpRegister   = "register"
	OpDeregister = "deregister"
	OpExpire     = "expire"
)

// lookupScript returns the "service", "node" and "seq" fields of every live
// node of the services named in ARGV (all of them when ARGV is empty), as
// one flat array. KEYS: services. ARGV[1]: prefix, then the names.
var lookupScript = goredis.NewScript(`
local function escape(s)
  return (string.gsub(s, '[%%:]', function(c) return string.format('%%%02X', string.byte(c)) end))
end
local names = {}
for i = 2, #ARGV do names[#names + 1] = ARGV[i] end
if #names == 0 then names = redis.call('SMEMBERS', KEYS[1]) end
local out = {}
for _, name in ipairs(names) do
  for _, key in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'service:' .. escape(name))) do
    local v = redis.call('HMGET', key, 'service', 'node', 'seq')
    if v[1] and v[2] then
      out[#out + 1] = v[1]
      out[#out + 1] = v[2]
      out[#out + 1] = v[3] or '0'
    end
  end
end
return out
`)

var _ registry.Registry = (*Registry)(nil)

// Registry is a registry.Registry on Redis. Create it with New; it is safe
// for concurrent use. Close it to stop its watchers and release its
// connections.
type Registry struct {
	cfg    Config
	conn   *redisconn.Conn
	client *goredis.Client
	log    *slog.Logger

	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}
}

// New connects to the Redis server of cfg.URL (or uses WithClient) and
// returns a Registry. It fails when cfg is invalid or the server does not
// answer a PING within ctx.
func New(ctx context.Context, cfg Config, opts ...Option) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conn, err := redisconn.Dial(ctx, "registry/redis", DefaultClientName, cfg.Connection, opts)
	if err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg, conn: conn, client: conn.Client, log: conn.Log, watchers: make(map[*watcher]struct{})}, nil
}

// Client returns the go-redis client of the registry.
func (r *Registry) Client() *goredis.Client { return r.client }

// Close stops every watcher and releases the connections, unless the client
// came from WithClient. Later calls return ErrClosed. Nodes stay registered
// until they are deregistered or expire.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	ws := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
	return r.conn.Close()
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// escape writes ':' and '%' of a key component as %3A and %25.
func escape(s string) string {
	if !strings.ContainsAny(s, ":%") {
		return s
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(s)
}

func (r *Registry) key(parts ...string) string { return r.cfg.Prefix + strings.Join(parts, ":") }

func (r *Registry) nodeKey(name, version, id string) string {
	return r.key("node", escape(name), escape(version), escape(id))
}

func (r *Registry) indexKey(name string) string { return r.key("service", escape(name)) }

// Channel returns the pub/sub channel on which the registry announces the
// names of the services that change.
func (r *Registry) Channel() string { return r.key("events") }

// Register adds the nodes of svc, or refreshes them, and replaces the
// version's metadata and endpoints with those of svc. Each node expires ttl
// from now (millisecond resolution); ttl 0 means never.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if ttl < 0 {
		return fmt.Errorf("registry/redis: register %s: negative ttl %v", svc.Name, ttl)
	}
	if r.isClosed() {
		return ErrClosed
	}
	head, err := json.Marshal(&registry.Service{Name: svc.Name, Version: svc.Version, Metadata: svc.Metadata, Endpoints: svc.Endpoints})
	if err != nil {
		return fmt.Errorf("registry/redis: register %s: %w", svc.Name, err)
	}
	ann, err := json.Marshal(&Announcement{Op: OpRegister, Service: svc})
	if err != nil {
		return fmt.Errorf("registry/redis: register %s: %w", svc.Name, err)
	}
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1
	}
	keys := []string{r.key("expiry"), r.key("services"), r.indexKey(svc.Name)}
	args := []any{r.cfg.Prefix, r.Channel(), svc.Name, head, ms, ann}
	for _, n := range svc.Nodes {
		node, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("registry/redis: register %s: node %s: %w", svc.Name, n.ID, err)
		}
		keys = append(keys, r.nodeKey(svc.Name, svc.Version, n.ID))
		args = append(args, node)
	}
	if err := registerScript.Run(ctx, r.client, keys, args...).Err(); err != nil {
		return r.fail("register "+svc.Name, err)
	}
	return nil
}

// Deregister removes the nodes of svc from its version. Removing nodes that
// are not registered is not an error.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	left := &registry.Service{Name: svc.Name, Version: svc.Version}
	keys := []string{r.key("expiry"), r.key("services"), r.indexKey(svc.Name)}
	for _, n := range svc.Nodes {
		keys = append(keys, r.nodeKey(svc.Name, svc.Version, n.ID))
		left.Nodes = append(left.Nodes, &registry.Node{ID: n.ID})
	}
	ann, err := json.Marshal(&Announcement{Op: OpDeregister, Service: left})
	if err != nil {
		return fmt.Errorf("registry/redis: deregister %s: %w", svc.Name, err)
	}
	if err := deregisterScript.Run(ctx, r.client, keys, r.Channel(), svc.Name, ann).Err(); err != nil {
		return r.fail("deregister "+svc.Name, err)
	}
	return nil
}

// Lookup returns the live versions of the service, sorted by version, each
// with its live nodes sorted by ID; registry.ErrNotFound when there are
// none.
func (r *Registry) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	if name == "" {
		return nil, registry.ErrNotFound
	}
	svcs, err := r.load(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(svcs) == 0 {
		return nil, registry.ErrNotFound
	}
	return svcs, nil
}

// List returns every live service version, sorted by name and version, with
// its nodes.
func (r *Registry) List(ctx context.Context) ([]*registry.Service, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	return r.load(ctx)
}

// load returns the live versions of the named services, or of all services
// when names is empty.
func (r *Registry) load(ctx context.Context, names ...string) ([]*registry.Service, error) {
	args := make([]any, 0, 1+len(names))
	args = append(args, r.cfg.Prefix)
	for _, n := range names {
		args = append(args, n)
	}
	vals, err := lookupScript.Run(ctx, r.client, []string{r.key("services")}, args...).StringSlice()
	if err != nil {
		return nil, r.fail("lookup", err)
	}
	type version struct {
		svc *registry.Service
		seq int64
	}
	versions := make(map[[2]string]*version)
	for i := 0; i+2 < len(vals); i += 3 {
		var head registry.Service
		var node registry.Node
		if json.Unmarshal([]byte(vals[i]), &head) != nil || json.Unmarshal([]byte(vals[i+1]), &node) != nil {
			r.log.Warn("skipping a node that does not decode", "service", head.Name)
			continue
		}
		seq, _ := strconv.ParseInt(vals[i+2], 10, 64)
		k := [2]string{head.Name, head.Version}
		v := versions[k]
		if v == nil {
			v = &version{svc: &head, seq: seq}
			versions[k] = v
		} else if seq > v.seq {
			head.Nodes = v.svc.Nodes
			v.svc, v.seq = &head, seq
		}
		v.svc.Nodes = append(v.svc.Nodes, &node)
	}
	out := make([]*registry.Service, 0, len(versions))
	for _, v := range versions {
		slices.SortFunc(v.svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
		out = append(out, v.svc)
	}
	slices.SortFunc(out, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// sweep removes expired nodes from the indexes and announces them.
func (r *Registry) sweep(ctx context.Context) error {
	keys := []string{r.key("expiry"), r.key("services")}
	return sweepScript.Run(ctx, r.client, keys, r.cfg.Prefix, r.Channel(), 1000).Err()
}

// fail wraps err of operation op, reporting ErrClosed after Close.
func (r *Registry) fail(op string, err error) error {
	if r.isClosed() {
		return ErrClosed
	}
	return fmt.Errorf("registry/redis: %s: %w", op, err)
}
