//go:build unix

package local_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/registry/registrytest"
)

// specialKinds are the kinds of non-regular file a directory may hold.
var specialKinds = []struct {
	name string
	make func(t testing.TB, path string)
}{
	{"fifo", func(t testing.TB, path string) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"symlink to a fifo", func(t testing.TB, path string) {
		target := filepath.Join(filepath.Dir(path), ".target-fifo")
		if err := syscall.Mkfifo(target, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}},
	{"unix socket", func(t testing.TB, path string) {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}},
	{"directory", func(t testing.TB, path string) {
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
	}},
}

// TestFIFOInRegistryDirDoesNotHangLookup is issue 12 item 4: a FIFO (or
// any non-regular file) in the local registry's directory, where a node
// file, a version directory or a service directory would be, made Lookup,
// List and Watch block forever in open(2), whatever the context's
// deadline. They must skip it, return the live nodes beside it, and return
// within the deadline. Before the fix, Lookup with a FIFO as a node file
// never returned ("Lookup ignored its 5s deadline").
func TestFIFOInRegistryDirDoesNotHangLookup(t *testing.T) {
	places := []struct {
		name string
		path func(dir string) string
	}{
		{"node file", func(dir string) string { return filepath.Join(dir, "greeter", "1.0.0", "stray.json") }},
		{"version directory", func(dir string) string { return filepath.Join(dir, "greeter", "2.0.0") }},
		{"service directory", func(dir string) string { return filepath.Join(dir, "fifo") }},
	}
	for _, place := range places {
		for _, kind := range specialKinds {
			t.Run(place.name+"/"+kind.name, func(t *testing.T) {
				dir := t.TempDir()
				r := newRegistry(t, dir)
				if err := r.Register(t.Context(), service("greeter", "1.0.0", "live"), 0); err != nil {
					t.Fatal(err)
				}
				kind.make(t, place.path(dir))

				wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer wcancel()
				w := registrytest.Watch(t, wctx, r)

				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				type result struct {
					svcs []*registry.Service
					err  error
				}
				call := func(name string, fn func() ([]*registry.Service, error)) result {
					done := make(chan result, 1)
					go func() { s, err := fn(); done <- result{s, err} }()
					select {
					case res := <-done:
						return res
					case <-time.After(10 * time.Second):
						t.Fatalf("%s ignored its 5s deadline: still blocked after 10s", name)
					}
					return result{}
				}
				got := call("Lookup", func() ([]*registry.Service, error) { return r.Lookup(ctx, "greeter") })
				if got.err != nil || !slices.Equal(nodeIDs(got.svcs), []string{"live"}) {
					t.Errorf("Lookup = %v, %v; want the live node", nodeIDs(got.svcs), got.err)
				}
				got = call("Lookup of the special file's name", func() ([]*registry.Service, error) { return r.Lookup(ctx, "fifo") })
				if !errors.Is(got.err, registry.ErrNotFound) {
					t.Errorf("Lookup(fifo) = %v, want ErrNotFound", got.err)
				}
				got = call("List", func() ([]*registry.Service, error) { return r.List(ctx) })
				if got.err != nil || len(got.svcs) != 1 || got.svcs[0].Name != "greeter" {
					t.Errorf("List = %v, %v; want greeter alone", got.svcs, got.err)
				}
				// The watcher scans too: a registration after the special
				// file must still come through.
				if err := r.Register(t.Context(), service("other", "1", "n"), 0); err != nil {
					t.Fatal(err)
				}
				for {
					ev, err := w.Next()
					if err != nil {
						t.Fatalf("Watch: %v (blocked on the special file?)", err)
					}
					if ev.Service.Name == "other" {
						break
					}
				}
			})
		}
	}
}

// TestCallsHonourTheirDeadline: an ended context ends every call at once.
func TestCallsHonourTheirDeadline(t *testing.T) {
	r := newRegistry(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	svc := service("greeter", "1", "n")
	if err := r.Register(ctx, svc, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Register = %v, want context.Canceled", err)
	}
	if err := r.Deregister(ctx, svc); !errors.Is(err, context.Canceled) {
		t.Errorf("Deregister = %v, want context.Canceled", err)
	}
	if _, err := r.Lookup(ctx, "greeter"); !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup = %v, want context.Canceled", err)
	}
	if _, err := r.List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v, want context.Canceled", err)
	}
}

// FuzzSpecialFiles fills a registry directory with entries of the kinds
// the fuzzer picks (regular files of the fuzzer's content, FIFOs,
// symbolic links to FIFOs, sockets, directories) where node files, version
// and service directories go: Lookup and List must return within their
// deadline, with no error but ErrNotFound, and only well-formed services.
func FuzzSpecialFiles(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4}, []byte(`{"format":1,"service":{"name":"fuzz","version":"1","nodes":[{"id":"n0"}]}}`))
	f.Add([]byte{1}, []byte{})
	f.Add([]byte{4, 4, 0}, []byte(`[]`))
	f.Fuzz(func(t *testing.T, kinds, content []byte) {
		if len(kinds) > 6 {
			kinds = kinds[:6]
		}
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "fuzz", "1"), 0o700); err != nil {
			t.Fatal(err)
		}
		for i, k := range kinds {
			var path string
			switch i % 3 {
			case 0:
				path = filepath.Join(dir, "fuzz", "1", "n"+string(rune('0'+i))+".json")
			case 1:
				path = filepath.Join(dir, "fuzz", "v"+string(rune('0'+i)))
			case 2:
				path = filepath.Join(dir, "s"+string(rune('0'+i)))
			}
			if int(k)%(len(specialKinds)+1) == len(specialKinds) {
				if err := os.WriteFile(path, content, 0o600); err != nil {
					t.Fatal(err)
				}
				continue
			}
			specialKinds[int(k)%(len(specialKinds)+1)].make(t, path)
		}
		r, err := local.New(local.WithDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			svcs, err := r.Lookup(ctx, "fuzz")
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("Lookup: %v", err)
			}
			for _, s := range svcs {
				if s.Validate() != nil || s.Name != "fuzz" {
					t.Errorf("Lookup returned a malformed service %+v", s)
				}
			}
			if _, err := r.List(ctx); err != nil {
				t.Errorf("List: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Lookup or List blocked on a special file past its deadline")
		}
	})
}
