// Package local is a registry.Registry shared by every process on one
// machine, with no server: the registry is a directory.
//
// Each node is one file, <dir>/<service>/<version>/<node>.json, where each
// path segment is an escaped form of the name (see WithDir for the default
// directory). The file holds the service version with that one node, its
// metadata and endpoints, and the node's absolute expiry time. Writers write
// a temporary file in the same directory, fsync it and rename it into place,
// so readers never see a partial file and concurrent writers never corrupt
// one another. Readers skip files they cannot parse and files that have
// expired; they delete them once WithGCGrace has passed.
//
// Register rewrites the node's file with a new expiry; Deregister deletes it;
// a process that dies without deregistering disappears once its TTL passes.
// Lookup and List read the directory (re-reading only the files whose size,
// modification time or identity changed). Watch polls the directory every
// WithPollInterval and reports the differences between successive scans:
// Added for a new version, Updated when the nodes, endpoints or metadata of a
// version change (a node leaving while others stay included), Removed when a
// version's last node leaves or expires, with the nodes that left. A slow
// watcher never holds up the registry or other watchers: its poller waits
// for it, and the next scan coalesces whatever changed in the meantime.
//
// All file access goes through an os.Root opened on the directory, so no
// name can reach outside it.
package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/seedmicro/micro/core/registry"
)

// ErrClosed is returned by every method of a Registry after Close.
var ErrClosed = errors.New("local: registry closed")

const (
	fileSuffix = ".json"
	tmpMarker  = ".tmp-"
	formatV1   = 1
	dirPerm    = 0o700
	filePerm   = 0o600
)

var _ registry.Registry = (*Registry)(nil)

// Registry is a registry.Registry kept in a directory shared by the
// processes of one machine. Create it with New; it is safe for concurrent
// use.
type Registry struct {
	opts options
	root *os.Root

	// life is held for reading by every operation and for writing by
	// Close, so that Close waits for them before closing root.
	life     sync.RWMutex
	closed   bool
	watchMu  sync.Mutex
	watchers map[*watcher]struct{}

	cacheMu sync.Mutex
	cache   map[string]map[string]cachedFile // service dir → file path → parsed file
}

// file is the on-disk form of one node.
type file struct {
	Format  int               `json:"format"`
	Service *registry.Service `json:"service"`
	// Expires is the node's expiry in Unix nanoseconds; 0 means never.
	Expires int64 `json:"expires"`
	// Updated is when the file was written, in Unix nanoseconds.
	Updated int64 `json:"updated"`
}

type cachedFile struct {
	info fs.FileInfo
	file *file // nil if the file could not be parsed
}

// New opens (creating it if needed) the registry directory.
func New(opts ...Option) (*Registry, error) {
	o := options{poll: DefaultPollInterval, gcGrace: DefaultGCGrace}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.dir == "" {
		dir, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		o.dir = dir
	}
	if err := os.MkdirAll(o.dir, dirPerm); err != nil {
		return nil, fmt.Errorf("local: create registry directory: %w", err)
	}
	root, err := os.OpenRoot(o.dir)
	if err != nil {
		return nil, fmt.Errorf("local: open registry directory: %w", err)
	}
	return &Registry{
		opts:     o,
		root:     root,
		watchers: make(map[*watcher]struct{}),
		cache:    make(map[string]map[string]cachedFile),
	}, nil
}

// Dir returns the directory that holds the registry.
func (r *Registry) Dir() string { return r.opts.dir }

// Register writes one file per node of svc, expiring ttl from now (ttl 0:
// never). Registering a node again replaces its file and so refreshes it.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	if ttl < 0 {
		return errors.New("local: negative ttl")
	}
	if err := checkUTF8(svc); err != nil {
		return err
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return ErrClosed
	}
	now := time.Now()
	var expires int64
	if ttl > 0 {
		expires = now.Add(ttl).UnixNano()
	}
	for _, n := range svc.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		one := *svc
		one.Nodes = []*registry.Node{n}
		data, err := json.Marshal(&file{Format: formatV1, Service: &one, Expires: expires, Updated: now.UnixNano()})
		if err != nil {
			return fmt.Errorf("local: encode %s: %w", svc.Name, err)
		}
		if err := r.writeAtomic(nodePath(svc.Name, svc.Version, n.ID), data); err != nil {
			return fmt.Errorf("local: register %s node %s: %w", svc.Name, n.ID, err)
		}
	}
	return nil
}

// Deregister deletes the files of the nodes of svc. Deleting nodes that are
// not registered is not an error.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return ErrClosed
	}
	for _, n := range svc.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.root.Remove(nodePath(svc.Name, svc.Version, n.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("local: deregister %s node %s: %w", svc.Name, n.ID, err)
		}
	}
	// Empty directories are left to the garbage collection of readers.
	return nil
}

// Lookup returns the live versions of the service, sorted by version, each
// with its live nodes sorted by ID.
func (r *Registry) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	svcs, err := r.read(ctx, func(ctx context.Context) (snapshot, error) { return r.scanService(ctx, name) })
	if err == nil && len(svcs) == 0 {
		return nil, registry.ErrNotFound
	}
	return svcs, err
}

// List returns every live service version, sorted by name and version.
func (r *Registry) List(ctx context.Context) ([]*registry.Service, error) {
	return r.read(ctx, r.scanAll)
}

// read returns the services of the snapshot scan takes, unless ctx is done
// or the registry is closed.
func (r *Registry) read(ctx context.Context, scan func(context.Context) (snapshot, error)) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return nil, ErrClosed
	}
	snap, err := scan(ctx)
	if err != nil {
		return nil, err
	}
	return snap.services(), nil
}

// Close stops every watcher and releases the directory. Later calls return
// ErrClosed. Close is idempotent.
func (r *Registry) Close() error {
	r.life.Lock() // waits for operations in flight
	if r.closed {
		r.life.Unlock()
		return nil
	}
	r.closed = true
	r.life.Unlock()

	r.watchMu.Lock()
	ws := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		ws = append(ws, w)
	}
	r.watchMu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
	return r.root.Close()
}

// checkUTF8 rejects names that JSON cannot carry unchanged.
func checkUTF8(svc *registry.Service) error {
	ok := utf8.ValidString(svc.Name) && utf8.ValidString(svc.Version)
	for _, n := range svc.Nodes {
		ok = ok && utf8.ValidString(n.ID)
	}
	if !ok {
		return fmt.Errorf("local: service %q: name, version and node IDs must be valid UTF-8", svc.Name)
	}
	return nil
}

func nodePath(name, version, id string) string {
	return filepath.Join(escape(name), escape(version), escape(id)+fileSuffix)
}

// writeAtomic writes data to path through a temporary file in the same
// directory, so that readers see either the old file or the new one.
func (r *Registry) writeAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	var err error
	// A concurrent Deregister or garbage collection may remove an (empty)
	// directory while MkdirAll runs or before the temporary file exists in
	// it; then try again. Once the temporary file exists the directory is not empty and
	// stays.
	for range 10 {
		err = r.root.MkdirAll(filepath.Clean(dir), dirPerm)
		if errors.Is(err, fs.ErrNotExist) {
			runtime.Gosched()
			continue // a parent was removed while MkdirAll ran
		}
		if err != nil {
			return err
		}
		tmp := filepath.Join(dir, "."+base+tmpMarker+randomSuffix())
		var f *os.File
		f, err = r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrNotExist) {
			runtime.Gosched()
			continue
		}
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = r.root.Rename(tmp, path)
		}
		if err != nil {
			_ = r.root.Remove(tmp)
		}
		return err
	}
	return err
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// removeIfIdle removes dir if it is empty and has not changed for the grace
// period. The grace period keeps readers from racing with writers that are
// about to fill the directory; writers retry if they lose that race anyway.
func (r *Registry) removeIfIdle(dir string) {
	info, err := r.root.Lstat(dir)
	if err != nil || time.Since(info.ModTime()) < r.opts.gcGrace {
		return
	}
	_ = r.root.Remove(dir) // fails, as it should, if the directory is not empty
}

// readDir lists dir inside the root; a missing directory is empty, and so
// is anything else that is not a directory (a FIFO, a device, a symbolic
// link, a file), which is never opened: opening a FIFO blocks until a
// writer comes.
func (r *Registry) readDir(dir string) ([]fs.DirEntry, error) {
	info, err := r.root.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, nil
	}
	f, err := r.root.OpenFile(dir, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

// key identifies a service version.
type key struct{ name, version string }

// snapshot is the live content of (part of) the registry.
type snapshot map[key]*registry.Service

// services returns deep copies of the snapshot's services, sorted.
func (s snapshot) services() []*registry.Service {
	out := make([]*registry.Service, 0, len(s))
	for _, svc := range s {
		out = append(out, svc.Copy())
	}
	slices.SortFunc(out, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out
}

func (r *Registry) scanAll(ctx context.Context) (snapshot, error) {
	entries, err := r.readDir(".")
	if err != nil {
		return nil, err
	}
	snap := make(snapshot)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := r.scanDir(ctx, e.Name(), "", snap); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func (r *Registry) scanService(ctx context.Context, name string) (snapshot, error) {
	snap := make(snapshot)
	if err := r.scanDir(ctx, escape(name), name, snap); err != nil {
		return nil, err
	}
	return snap, nil
}

// scanDir adds the live nodes under one service directory to snap. If name
// is not empty, files for other services (possible only through a hash
// collision or tampering) are skipped. It stops with ctx's error when ctx
// ends.
func (r *Registry) scanDir(ctx context.Context, svcDir, name string, snap snapshot) error {
	versions, err := r.readDir(svcDir)
	if err != nil {
		return err
	}
	now := time.Now()
	seen := make(map[string]bool)
	newest := make(map[key]int64) // Updated of the file that gave each version its metadata
	nonEmpty := false
	for _, v := range versions {
		if !v.IsDir() || strings.HasPrefix(v.Name(), ".") {
			continue
		}
		verDir := filepath.Join(svcDir, v.Name())
		files, err := r.readDir(verDir)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			r.removeIfIdle(verDir)
			continue
		}
		nonEmpty = true
		for _, de := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			path := filepath.Join(verDir, de.Name())
			f, info := r.load(svcDir, path, de, now, seen)
			if f == nil {
				continue
			}
			s := f.Service
			if (name != "" && s.Name != name) || len(s.Nodes) != 1 || s.Nodes[0] == nil ||
				path != nodePath(s.Name, s.Version, s.Nodes[0].ID) {
				continue // not where this content belongs: ignore it
			}
			if f.Expires != 0 && now.UnixNano() >= f.Expires {
				if now.Sub(time.Unix(0, f.Expires)) > r.opts.gcGrace {
					r.removeIfUnchanged(path, info)
				}
				continue
			}
			k := key{s.Name, s.Version}
			cur := snap[k]
			if cur == nil {
				cur = &registry.Service{Name: s.Name, Version: s.Version}
				snap[k] = cur
			}
			if f.Updated >= newest[k] {
				newest[k] = f.Updated
				cur.Metadata, cur.Endpoints = s.Metadata, s.Endpoints
			}
			cur.Nodes = append(cur.Nodes, s.Nodes[0])
		}
	}
	for _, svc := range snap {
		slices.SortFunc(svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	}
	if !nonEmpty {
		r.removeIfIdle(svcDir)
	}
	r.pruneCache(svcDir, seen)
	return nil
}

// load returns the parsed content of a node file and the FileInfo of the
// file it was read from, re-reading it only if it changed since the last
// time. It returns a nil file for files that are not node files or cannot be
// read, and deletes stale temporary and unreadable files.
func (r *Registry) load(svcDir, path string, de fs.DirEntry, now time.Time, seen map[string]bool) (*file, fs.FileInfo) {
	name := de.Name()
	if de.IsDir() {
		return nil, nil
	}
	info, err := de.Info()
	if err != nil {
		return nil, nil // gone since the directory was read
	}
	if strings.HasPrefix(name, ".") {
		// A temporary file: in flight, or left by a writer that died.
		if strings.Contains(name, tmpMarker) && now.Sub(info.ModTime()) > r.opts.gcGrace {
			r.removeIfUnchanged(path, info)
		}
		return nil, nil
	}
	if !strings.HasSuffix(name, fileSuffix) || !info.Mode().IsRegular() {
		// Not a node file, or not a regular file (a FIFO, a device, a
		// socket, a symbolic link): never opened, since opening a FIFO
		// blocks until a writer comes.
		return nil, nil
	}
	seen[path] = true

	r.cacheMu.Lock()
	c, ok := r.cache[svcDir][path]
	r.cacheMu.Unlock()
	if ok && sameFile(c.info, info) {
		if c.file == nil {
			r.dropUnreadable(path, c.info, now)
		}
		return c.file, c.info
	}

	// Stat the open file rather than trusting info: the file may have been
	// replaced since the directory was read.
	// O_NONBLOCK: the file may have been replaced by a FIFO since, and
	// then the open returns at once, and the Stat below refuses it.
	fh, err := r.root.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil
	}
	defer fh.Close()
	info, err = fh.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return nil, nil
	}
	var parsed *file
	if data, err := io.ReadAll(io.LimitReader(fh, maxNodeFile+1)); err == nil && len(data) <= maxNodeFile {
		parsed = decode(data)
	}
	r.cacheMu.Lock()
	m := r.cache[svcDir]
	if m == nil {
		m = make(map[string]cachedFile)
		r.cache[svcDir] = m
	}
	m[path] = cachedFile{info: info, file: parsed}
	r.cacheMu.Unlock()
	if parsed == nil {
		r.dropUnreadable(path, info, now)
	}
	return parsed, info
}

// maxNodeFile is the size above which a node file is not read: one node's
// registration is a few KiB, and a bigger file is not one the registry
// wrote.
const maxNodeFile = 4 << 20

// decode parses a node file; it returns nil for anything that is not a
// well-formed node file.
func decode(data []byte) *file {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil
	}
	if f.Format != formatV1 || f.Service.Validate() != nil || len(f.Service.Nodes) != 1 {
		return nil
	}
	return &f
}

func (r *Registry) dropUnreadable(path string, info fs.FileInfo, now time.Time) {
	if now.Sub(info.ModTime()) > r.opts.gcGrace {
		r.removeIfUnchanged(path, info)
	}
}

// removeIfUnchanged deletes path if it is still the file old describes. A
// writer replacing the file between the check and the removal loses its
// write; the grace period makes that a file its owner neglected for longer
// than WithGCGrace, and the owner's next Register writes it again.
func (r *Registry) removeIfUnchanged(path string, old fs.FileInfo) {
	cur, err := r.root.Lstat(path)
	if err != nil || !sameFile(old, cur) {
		return
	}
	_ = r.root.Remove(path)
}

func sameFile(a, b fs.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && os.SameFile(a, b)
}

// pruneCache forgets the cached files of svcDir that a scan did not see.
func (r *Registry) pruneCache(svcDir string, seen map[string]bool) {
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	m := r.cache[svcDir]
	for path := range m {
		if !seen[path] {
			delete(m, path)
		}
	}
	if len(m) == 0 {
		delete(r.cache, svcDir)
	}
}

// diff returns the events that turn old into cur, in a stable order.
func diff(old, cur snapshot) []*registry.Event {
	var events []*registry.Event
	for k, s := range cur {
		o, ok := old[k]
		switch {
		case !ok:
			events = append(events, &registry.Event{Type: registry.Added, Service: s.Copy()})
		case !reflect.DeepEqual(o, s):
			events = append(events, &registry.Event{Type: registry.Updated, Service: s.Copy()})
		}
	}
	for k, o := range old {
		if _, ok := cur[k]; !ok {
			events = append(events, &registry.Event{Type: registry.Removed, Service: o.Copy()})
		}
	}
	slices.SortFunc(events, func(a, b *registry.Event) int {
		return cmp.Or(
			cmp.Compare(a.Service.Name, b.Service.Name),
			cmp.Compare(a.Service.Version, b.Service.Version),
			cmp.Compare(a.Type, b.Type))
	})
	return events
}
