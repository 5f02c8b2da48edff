package local_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/registry/registrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newRegistry(t testing.TB, dir string, opts ...local.Option) *local.Registry {
	t.Helper()
	opts = append([]local.Option{local.WithDir(dir), local.WithPollInterval(20 * time.Millisecond)}, opts...)
	r, err := local.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry { return newRegistry(t, t.TempDir()) })
}

// TestConformanceSharedDir runs the suite with the writer and the reader in
// two registry instances on one directory, as two processes would be.
func TestConformanceSharedDir(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		dir := t.TempDir()
		return split{writer: newRegistry(t, dir), reader: newRegistry(t, dir)}
	})
}

// split writes through one registry and reads through another.
type split struct{ writer, reader registry.Registry }

func (s split) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	return s.writer.Register(ctx, svc, ttl)
}

func (s split) Deregister(ctx context.Context, svc *registry.Service) error {
	return s.writer.Deregister(ctx, svc)
}

func (s split) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	return s.reader.Lookup(ctx, name)
}

func (s split) List(ctx context.Context) ([]*registry.Service, error) { return s.reader.List(ctx) }

func (s split) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	return s.reader.Watch(ctx, opts...)
}

func service(name, version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name, Version: version}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{ID: id, Address: "127.0.0.1:" + id})
	}
	return s
}

func nodeIDs(svcs []*registry.Service) []string {
	var ids []string
	for _, s := range svcs {
		for _, n := range s.Nodes {
			ids = append(ids, n.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Environment of the helper process.
const (
	envMode = "MICRO_LOCAL_TEST_HELPER"
	envDir  = "MICRO_LOCAL_TEST_DIR"
	envName = "MICRO_LOCAL_TEST_NAME"
	envTTL  = "MICRO_LOCAL_TEST_TTL"
	envOps  = "MICRO_LOCAL_TEST_OPS"
)

// TestHelperProcess is not a test: the other tests run the test binary again
// with it selected and envMode set, to get a second process.
//
// In mode "serve" it registers node "child-<pid>" of service $envName with
// ttl $envTTL, refreshing it at a quarter of the ttl, prints "ready" and
// serves until its stdin closes; then it deregisters. In mode "churn" it
// registers and deregisters nodes of $envName $envOps times and prints the
// nodes it left registered.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envMode)
	if mode == "" {
		t.Skip("helper process for other tests")
	}
	r, err := local.New(local.WithDir(os.Getenv(envDir)))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	defer r.Close()
	ctx := context.Background()
	name := os.Getenv(envName)
	switch mode {
	case "serve":
		ttl, _ := time.ParseDuration(os.Getenv(envTTL))
		svc := service(name, "1.0.0", fmt.Sprintf("child-%d", os.Getpid()))
		if err := r.Register(ctx, svc, ttl); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ready", svc.Nodes[0].ID)
		stdinClosed := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
		tick := time.Hour
		if ttl > 0 {
			tick = ttl / 4
		}
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				if err := r.Register(ctx, svc, ttl); err != nil {
					fmt.Println("error", err)
				}
			case <-stdinClosed:
				_ = r.Deregister(ctx, svc)
				return
			}
		}
	case "churn":
		ops, _ := strconv.Atoi(os.Getenv(envOps))
		final, err := churn(ctx, r, name, fmt.Sprintf("p%d", os.Getpid()), ops)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("final", strings.Join(final, ","))
	}
}

// churn registers, refreshes and deregisters five nodes of name at random,
// ops times, and returns the IDs it left registered.
func churn(ctx context.Context, r registry.Registry, name, prefix string, ops int) ([]string, error) {
	registered := make(map[string]bool)
	for range ops {
		id := fmt.Sprintf("%s-%d", prefix, rand.IntN(5))
		svc := service(name, "1.0.0", id)
		svc.Metadata = map[string]string{"padding": strings.Repeat("x", rand.IntN(2000))}
		if registered[id] && rand.IntN(3) > 0 {
			if err := r.Deregister(ctx, svc); err != nil {
				return nil, err
			}
			delete(registered, id)
			continue
		}
		if err := r.Register(ctx, svc, time.Hour); err != nil {
			return nil, err
		}
		registered[id] = true
	}
	var ids []string
	for id := range registered {
		ids = append(ids, id)
	}
	return ids, nil
}

// child is a helper process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

func startChild(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 100), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-c.done
		}
		_ = cmd.Wait()
	})
	return c
}

// expect waits for an output line starting with prefix and returns the rest.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before printing %q", prefix)
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return strings.TrimSpace(rest)
			}
			if strings.HasPrefix(line, "error") {
				t.Fatalf("child: %s", line)
			}
		case <-timeout:
			t.Fatalf("child did not print %q within 30s", prefix)
		}
	}
}

// serveChild starts a child process that registers service name with ttl
// in a directory of its own, and returns a registry on that directory
// watching the service, the child and its node ID, once the registry finds
// that node.
func serveChild(t *testing.T, name, ttl string) (*local.Registry, registry.Watcher, *child, string) {
	t.Helper()
	dir := t.TempDir()
	r := newRegistry(t, dir)
	w := registrytest.Watch(t, t.Context(), r, registry.WatchService(name))
	c := startChild(t, envMode+"=serve", envDir+"="+dir, envName+"="+name, envTTL+"="+ttl)
	id := c.expect(t, "ready")
	if svcs, err := r.Lookup(t.Context(), name); err != nil || !slices.Equal(nodeIDs(svcs), []string{id}) {
		t.Fatalf("Lookup of the child's service = %v, %v; want node %s", nodeIDs(svcs), err, id)
	}
	return r, w, c, id
}

func TestCrossProcessLookup(t *testing.T) {
	r, w, c, id := serveChild(t, "cross", "0s")
	ev, err := w.Next()
	if err != nil || ev.Type != registry.Added || ev.Service.Nodes[0].ID != id {
		t.Fatalf("first event = %+v, %v; want Added %s", ev, err, id)
	}

	// A clean shutdown deregisters.
	_ = c.stdin.Close()
	<-c.done
	if _, err := r.Lookup(t.Context(), "cross"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Lookup after the child deregistered: %v, want ErrNotFound", err)
	}
	ev, err = w.Next()
	if err != nil || ev.Type != registry.Removed {
		t.Fatalf("event after the child deregistered = %+v, %v; want Removed", ev, err)
	}
}

func TestKilledProcessExpires(t *testing.T) {
	r, w, c, id := serveChild(t, "doomed", "1s")

	killed := time.Now()
	if err := c.cmd.Process.Kill(); err != nil { // SIGKILL: no chance to deregister
		t.Fatal(err)
	}
	<-c.done

	registrytest.WaitUntil(t, "the killed child's node to expire", func() bool {
		_, err := r.Lookup(t.Context(), "doomed")
		return errors.Is(err, registry.ErrNotFound)
	})
	t.Logf("gone %v after SIGKILL (ttl 1s)", time.Since(killed).Round(time.Millisecond))

	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if ev.Type == registry.Removed {
			if got := nodeIDs([]*registry.Service{ev.Service}); !slices.Equal(got, []string{id}) {
				t.Fatalf("Removed nodes = %v, want [%s]", got, id)
			}
			break
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	const (
		name       = "churn"
		goroutines = 8
		children   = 2
		ops        = 300
	)
	dir := t.TempDir()
	reader := newRegistry(t, dir)
	ctx := t.Context()

	stop := make(chan struct{})
	var checkers sync.WaitGroup
	var lookups, walks int
	checkErrs := make(chan error, 100)
	// A reader through the registry: found or not found, nothing else.
	checkers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			lookups++
			if _, err := reader.Lookup(ctx, name); err != nil && !errors.Is(err, registry.ErrNotFound) {
				checkErrs <- fmt.Errorf("Lookup: %w", err)
				return
			}
		}
	})
	// A reader of the raw files: every node file parses, always.
	checkers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			walks++
			if err := checkFiles(dir); err != nil {
				checkErrs <- err
				return
			}
		}
	})

	var writers sync.WaitGroup
	finals := make(chan []string, goroutines+children)
	for g := range goroutines {
		// Each goroutine has its own instance, as a process would.
		r := newRegistry(t, dir)
		writers.Go(func() {
			ids, err := churn(ctx, r, name, fmt.Sprintf("g%d", g), ops)
			if err != nil {
				checkErrs <- fmt.Errorf("writer %d: %w", g, err)
			}
			finals <- ids
		})
	}
	var procs []*child
	for range children {
		procs = append(procs, startChild(t, envMode+"=churn", envDir+"="+dir, envName+"="+name, envOps+"="+strconv.Itoa(ops)))
	}
	for _, c := range procs {
		if ids := c.expect(t, "final"); ids != "" {
			finals <- strings.Split(ids, ",")
		} else {
			finals <- nil
		}
	}
	writers.Wait()
	close(stop)
	checkers.Wait()
	close(checkErrs)
	for err := range checkErrs {
		t.Error(err)
	}
	close(finals)
	var want []string
	for ids := range finals {
		want = append(want, ids...)
	}
	slices.Sort(want)
	t.Logf("%d lookups and %d raw scans during %d writes", lookups, walks, (goroutines+children)*ops)

	svcs, err := reader.Lookup(ctx, name)
	if len(want) == 0 {
		if !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("final Lookup = %v, want ErrNotFound", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("final Lookup: %v", err)
	}
	if got := nodeIDs(svcs); !slices.Equal(got, want) {
		t.Fatalf("final nodes:\n got %v\nwant %v", got, want)
	}
	if err := checkFiles(dir); err != nil {
		t.Fatal(err)
	}
}

// checkFiles parses every node file under dir.
func checkFiles(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		var v struct {
			Service *registry.Service `json:"service"`
		}
		if err := json.Unmarshal(data, &v); err != nil || v.Service == nil {
			return fmt.Errorf("%s: partial or corrupt file (%d bytes): %v", path, len(data), err)
		}
		return nil
	})
}

func TestHostileNames(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "registry")
	r := newRegistry(t, dir)
	ctx := t.Context()

	names := []string{
		"a/b", "../../escape", "..", ".", "/abs", `back\slash`, "UPPER", "upper", "Upper",
		"ünïcødé", "with space", "%", "%25", "nul\x00byte", ".hidden", "x.json",
		strings.Repeat("long", 100), strings.Repeat("long", 100) + "!",
	}
	for i, name := range names {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			version := names[(i+1)%len(names)]
			id := names[(i+2)%len(names)]
			if err := r.Register(ctx, service(name, version, id), 0); err != nil {
				t.Fatalf("Register(%q %q %q): %v", name, version, id, err)
			}
		})
	}
	for i, name := range names {
		svcs, err := r.Lookup(ctx, name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		want := []string{names[(i+2)%len(names)]}
		if len(svcs) != 1 || svcs[0].Name != name || svcs[0].Version != names[(i+1)%len(names)] || !slices.Equal(nodeIDs(svcs), want) {
			t.Fatalf("Lookup(%q) = %d services %v, want version %q node %q", name, len(svcs), nodeIDs(svcs), names[(i+1)%len(names)], want)
		}
	}
	all, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(names) {
		t.Fatalf("List has %d services, want %d", len(all), len(names))
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "registry" {
		t.Fatalf("files escaped the registry directory: %v", entries)
	}

	if err := r.Register(ctx, service("bad\xffutf8", "1", "a"), 0); err == nil {
		t.Fatal("Register accepted a name that is not valid UTF-8")
	}
}

func TestGarbageCollection(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, dir, local.WithGCGrace(0))
	ctx := t.Context()
	if err := r.Register(ctx, service("gc", "1", "a"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctx, service("gc", "1", "keep"), 0); err != nil {
		t.Fatal(err)
	}
	svcDir := filepath.Join(dir, "gc", "1")
	junk := map[string]string{
		"broken.json":           `{"format":1,"service":{"name":"gc"`,
		".keep.json.tmp-dead":   `{}`,
		"not-a-node.json":       `{"format":1,"service":{"name":"other","version":"1","nodes":[{"id":"x"}]}}`,
		"unknown-format.json":   `{"format":99}`,
		"empty.json":            ``,
		"wrong-node-count.json": `{"format":1,"service":{"name":"gc","version":"1","nodes":[{"id":"a"},{"id":"b"}]}}`,
	}
	for name, content := range junk {
		if err := os.WriteFile(filepath.Join(svcDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	registrytest.WaitUntil(t, "the expired node and the junk to be removed", func() bool {
		svcs, err := r.Lookup(ctx, "gc")
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if !slices.Equal(nodeIDs(svcs), []string{"keep"}) {
			return false
		}
		entries, _ := os.ReadDir(svcDir)
		var left []string
		for _, e := range entries {
			left = append(left, e.Name())
		}
		// not-a-node.json parses, but belongs elsewhere: it is ignored,
		// not deleted.
		return slices.Equal(left, []string{"keep.json", "not-a-node.json"})
	})

	if err := r.Deregister(ctx, service("gc", "1", "keep")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(svcDir, "not-a-node.json")); err != nil {
		t.Fatal(err)
	}
	registrytest.WaitUntil(t, "the empty directories to be removed", func() bool {
		if _, err := r.Lookup(ctx, "gc"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("Lookup = %v, want ErrNotFound", err)
		}
		_, err := os.Stat(filepath.Join(dir, "gc"))
		return errors.Is(err, fs.ErrNotExist)
	})
}

func TestGarbageKeptDuringGrace(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, dir) // default grace
	ctx := t.Context()
	if err := r.Register(ctx, service("grace", "1", "a"), 0); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "grace", "1", "broken.json")
	if err := os.WriteFile(broken, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	svcs, err := r.Lookup(ctx, "grace")
	if err != nil || !slices.Equal(nodeIDs(svcs), []string{"a"}) {
		t.Fatalf("Lookup = %v, %v; want node a", nodeIDs(svcs), err)
	}
	if _, err := os.Stat(broken); err != nil {
		t.Fatalf("a fresh unreadable file was removed: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	want := t.TempDir()
	t.Setenv(local.EnvDir, want)
	if got, err := local.DefaultDir(); err != nil || got != want {
		t.Fatalf("DefaultDir() = %q, %v; want %q", got, err, want)
	}
	r, err := local.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Dir() != want {
		t.Fatalf("Dir() = %q, want %q", r.Dir(), want)
	}

	t.Setenv(local.EnvDir, "")
	got, err := local.DefaultDir()
	if err == nil && !strings.HasSuffix(got, filepath.Join("micro", "registry")) {
		t.Fatalf("DefaultDir() = %q, want it under micro/registry", got)
	}
}

func TestClose(t *testing.T) {
	r, err := local.New(local.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	registrytest.CheckClose(t, r, local.ErrClosed)
}

// FuzzNodeFile feeds arbitrary bytes to readers as a node file: they must
// neither fail nor return anything but well-formed services.
func FuzzNodeFile(f *testing.F) {
	f.Add([]byte(`{"format":1,"service":{"name":"fuzz","version":"1","nodes":[{"id":"n","address":"x"}]},"expires":0}`))
	f.Add([]byte(`{"format":1,"service":{"name":"fuzz","version":"1","nodes":[{"id":"n"}]},"expires":1}`))
	f.Add([]byte(`{"format":1,"service":{"name":"fuzz","version":"1","nodes":[null]}}`))
	f.Add([]byte(`{"format":1,"service":null}`))
	f.Add([]byte(`{"format":1`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "fuzz", "1"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "fuzz", "1", "n.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := local.New(local.WithDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		svcs, err := r.Lookup(context.Background(), "fuzz")
		if errors.Is(err, registry.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		for _, s := range svcs {
			if err := s.Validate(); err != nil || s.Name != "fuzz" || s.Version != "1" || !slices.Equal(nodeIDs(svcs), []string{"n"}) {
				t.Fatalf("Lookup returned a malformed service %+v: %v", s, err)
			}
		}
	})
}

// FuzzNames registers arbitrary names: they must round-trip and stay inside
// the directory.
func FuzzNames(f *testing.F) {
	f.Add("greeter", "1.0.0", "node-1")
	f.Add("../x", "..", ".")
	f.Add("a/b/c", "", "%2F")
	f.Add("Ü", "ü", "\x00")
	f.Fuzz(func(t *testing.T, name, version, id string) {
		parent := t.TempDir()
		r, err := local.New(local.WithDir(filepath.Join(parent, "r")))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx := context.Background()
		svc := service(name, version, id)
		if err := r.Register(ctx, svc, 0); err != nil {
			return // invalid names are rejected, not mangled
		}
		svcs, err := r.Lookup(ctx, name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if len(svcs) != 1 || svcs[0].Version != version || len(svcs[0].Nodes) != 1 || svcs[0].Nodes[0].ID != id {
			t.Fatalf("Lookup(%q) = %+v", name, svcs)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Fatalf("files escaped the registry directory: %v", entries)
		}
	})
}
