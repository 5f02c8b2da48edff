package install_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"lukechampine.com/blake3"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/archive"
	"github.com/seedmicro/micro/internal/archive/archivetest"
	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/install"
	"github.com/seedmicro/micro/internal/install/installtest"
	"github.com/seedmicro/micro/internal/testkit"
)

var fakes = map[string]string{} // name → path of a built fake plugin

func TestMain(m *testing.M) {
	testkit.Main(m, func(tb testing.TB) {
		dir := tb.TempDir()
		for name, f := range map[string]installtest.Fake{
			"v1":     {Tag: "v1"},
			"v2":     {Tag: "v2"},
			"proto2": {Proto: 2},
			"silent": {Mode: installtest.Silent},
			"exit":   {Mode: installtest.Exit},
			"netrpc": {Mode: installtest.NetRPC},
		} {
			fakes[name] = filepath.Join(dir, name)
			installtest.Build(tb, fakes[name], f)
		}
	})
}

var testHandshake = install.Handshake{CookieKey: installtest.CookieKey, CookieValue: installtest.CookieValue, Protocols: []int{1}}

func newInstaller(t *testing.T, opts ...install.Option) (*install.Installer, *bytes.Buffer) {
	t.Helper()
	var progress bytes.Buffer
	dir := filepath.Join(t.TempDir(), "plugins")
	opts = append([]install.Option{
		install.WithHandshake(testHandshake),
		install.WithProgress(install.NewProgress(&progress, false)),
		install.WithHandshakeTimeout(10 * time.Second),
	}, opts...)
	return install.New(dir, opts...), &progress
}

func sumOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileURL(p string) string { return "file://" + filepath.ToSlash(p) }

// artifactVersion is a catalog version with one artifact for this platform.
func artifactVersion(version, url, sum string) *catalog.Version {
	return &catalog.Version{Version: version, Protocols: []int{1}, Artifacts: []catalog.Artifact{
		{OS: runtime.GOOS, Arch: runtime.GOARCH, URL: url, SHA256: sum},
	}}
}

func TestInstallArtifactFile(t *testing.T) {
	in, progress := newInstaller(t)
	ctx := context.Background()
	sum := sumOf(t, fakes["v1"])
	res, err := in.Install(ctx, install.Request{Name: "broker/fake", Catalog: "test", Version: artifactVersion("1.0.0", fileURL(fakes["v1"]), sum)})
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != sum || res.Protocol != 1 || res.Path != filepath.Join(in.Dir(), "micro-plugin-broker-fake") {
		t.Errorf("result %+v", res)
	}
	fi, err := os.Stat(res.Path)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("installed binary mode %v, %v; want 0755", fi.Mode(), err)
	}
	lock, err := in.Installed()
	if err != nil {
		t.Fatal(err)
	}
	want := pluginlock.Plugin{Name: "broker/fake", Version: "1.0.0", Catalog: "test", Source: fileURL(fakes["v1"]), SHA256: map[string]string{pluginlock.Platform(): sum}}
	if got, ok := lock.Get("broker/fake"); !ok || got.Version != want.Version || got.Source != want.Source || !maps.Equal(got.SHA256, want.SHA256) || got.Catalog != "test" {
		t.Errorf("lock entry %+v, want %+v", got, want)
	}
	// The BLAKE3 the host checks before each launch is that of the file.
	data, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	b3 := blake3.Sum256(data)
	if got, _ := lock.Get("broker/fake"); got.BLAKE3[pluginlock.Platform()] != hex.EncodeToString(b3[:]) {
		t.Errorf("lock entry's BLAKE3 %v, want %x", got.BLAKE3, b3)
	}
	for _, s := range []string{"broker/fake: fetching", "checking the go-plugin handshake", "installing"} {
		if !strings.Contains(progress.String(), s) {
			t.Errorf("progress lacks %q:\n%s", s, progress)
		}
	}
	// Only the binary and the lock are left.
	if snap := installtest.Snapshot(t, in.Dir()); len(snap) != 3 { // ".", binary, lock
		t.Errorf("plugin directory holds %v", slicesOfKeys(snap))
	}

	checks, err := in.Verify(ctx, nil, "")
	if err != nil || len(checks) != 1 || checks[0].Status != install.StatusOK {
		t.Fatalf("Verify: %+v, %v", checks, err)
	}
}

func slicesOfKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestInstallArtifactHTTPArchives(t *testing.T) {
	bin, err := os.ReadFile(fakes["v1"])
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/p.tar.gz": archivetest.TarGz(t,
			archivetest.Entry{Name: "dist/", Type: '5'},
			archivetest.Entry{Name: "dist/micro-plugin-store-fake", Body: string(bin), Mode: 0o755},
			archivetest.Entry{Name: "dist/README", Body: "hi"}),
		"/p.zip":   archivetest.Zip(t, archivetest.Entry{Name: "micro-plugin-store-fake", Body: string(bin), Mode: 0o755}),
		"/p.bin":   bin,
		"/two.zip": archivetest.Zip(t, archivetest.Entry{Name: "a/micro-plugin-store-fake", Body: string(bin)}, archivetest.Entry{Name: "b/micro-plugin-store-fake", Body: string(bin)}),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path != "/p.bin" { // p.bin is sent without a length
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		}
		w.Write(b)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, name := range []string{"/p.tar.gz", "/p.zip", "/p.bin"} {
		t.Run(name, func(t *testing.T) {
			in, progress := newInstaller(t, install.WithHTTPClient(srv.Client()))
			sum := sha256.Sum256(files[name])
			res, err := in.Install(ctx, install.Request{Name: "store/fake", Catalog: "test", Version: artifactVersion("1.0.0", srv.URL+name, hex.EncodeToString(sum[:]))})
			if err != nil {
				t.Fatal(err)
			}
			if res.SHA256 != sumOf(t, fakes["v1"]) {
				t.Error("the installed binary is not the archive's")
			}
			if !strings.Contains(progress.String(), "100% of") {
				t.Errorf("no download progress:\n%s", progress)
			}
		})
	}
	t.Run("two candidates", func(t *testing.T) {
		in, _ := newInstaller(t, install.WithHTTPClient(srv.Client()))
		sum := sha256.Sum256(files["/two.zip"])
		_, err := in.Install(ctx, install.Request{Name: "store/fake", Catalog: "test", Version: artifactVersion("1.0.0", srv.URL+"/two.zip", hex.EncodeToString(sum[:]))})
		if err == nil || !strings.Contains(err.Error(), "2 files named micro-plugin-store-fake") {
			t.Errorf("archive with two binaries: %v", err)
		}
	})
	t.Run("404", func(t *testing.T) {
		in, _ := newInstaller(t, install.WithHTTPClient(srv.Client()))
		_, err := in.Install(ctx, install.Request{Name: "store/fake", Catalog: "test", Version: artifactVersion("1.0.0", srv.URL+"/none", strings.Repeat("0", 64))})
		if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "store/fake (catalog test)") {
			t.Errorf("missing artifact: %v", err)
		}
	})
}

// installV1 installs the v1 fake as broker/fake 1.0.0 and returns the
// installer and a snapshot of its directory.
func installV1(t *testing.T, opts ...install.Option) (*install.Installer, map[string]string) {
	t.Helper()
	in, _ := newInstaller(t, opts...)
	_, err := in.Install(context.Background(), install.Request{Name: "broker/fake", Catalog: "test", Version: artifactVersion("1.0.0", fileURL(fakes["v1"]), sumOf(t, fakes["v1"]))})
	if err != nil {
		t.Fatal(err)
	}
	return in, installtest.Snapshot(t, in.Dir())
}

func assertUnchanged(t *testing.T, in *install.Installer, before map[string]string) {
	t.Helper()
	after := installtest.Snapshot(t, in.Dir())
	if !maps.Equal(before, after) {
		t.Errorf("the failed install changed the plugin directory:\nbefore %v\nafter  %v", before, after)
	}
}

func TestFailedInstallChangesNothing(t *testing.T) {
	ctx := context.Background()
	serve := func(t *testing.T, data []byte) string {
		p := filepath.Join(t.TempDir(), "artifact")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := sumOf(t, fakes["v2"])
	tests := []struct {
		name string
		req  func(t *testing.T) install.Request
		want string
	}{
		{"wrong sha256", func(t *testing.T) install.Request {
			return install.Request{Version: artifactVersion("2.0.0", fileURL(fakes["v2"]), sumOf(t, fakes["v1"]))}
		}, "is not the one the catalog lists"},
		{"protocol the plugin does not speak", func(t *testing.T) install.Request {
			return install.Request{Version: artifactVersion("2.0.0", fileURL(fakes["proto2"]), sumOf(t, fakes["proto2"]))}
		}, "speaks plugin protocol 2, want one of [1]"},
		{"catalog protocol micro-new does not speak", func(t *testing.T) install.Request {
			v := artifactVersion("2.0.0", fileURL(fakes["v2"]), v2)
			v.Protocols = []int{3}
			return install.Request{Version: v}
		}, "speaks plugin protocol [3]; this micro-new speaks [1]"},
		{"no handshake", func(t *testing.T) install.Request {
			return install.Request{Version: artifactVersion("2.0.0", fileURL(fakes["exit"]), sumOf(t, fakes["exit"]))}
		}, "failing on purpose"},
		{"netrpc", func(t *testing.T) install.Request {
			return install.Request{Version: artifactVersion("2.0.0", fileURL(fakes["netrpc"]), sumOf(t, fakes["netrpc"]))}
		}, `plugin protocol "netrpc", want grpc`},
		{"not a plugin at all", func(t *testing.T) install.Request {
			p := serve(t, []byte("#!/bin/sh\necho hello\n"))
			return install.Request{Version: artifactVersion("2.0.0", fileURL(p), sumOf(t, p))}
		}, "handshake"},
		{"project pin differs", func(t *testing.T) install.Request {
			return install.Request{Version: artifactVersion("2.0.0", fileURL(fakes["v2"]), v2), Want: sumOf(t, fakes["v1"]), WantOrigin: "/p/micro.lock"}
		}, "which /p/micro.lock pins for broker/fake 2.0.0"},
		{"download over the size limit", func(t *testing.T) install.Request {
			big := serve(t, make([]byte, fileCap+200))
			return install.Request{Version: artifactVersion("2.0.0", fileURL(big), sumOf(t, big))}
		}, "more than the limit"},
	}
	for _, h := range hostileArchives(t) {
		tests = append(tests, struct {
			name string
			req  func(t *testing.T) install.Request
			want string
		}{"hostile archive: " + h.name, func(t *testing.T) install.Request {
			p := filepath.Join(t.TempDir(), "a."+h.format)
			os.WriteFile(p, h.data, 0o644)
			return install.Request{Version: artifactVersion("2.0.0", fileURL(p), sumOf(t, p))}
		}, h.want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, before := installV1(t, install.WithLimits(archive.Limits{MaxFileSize: fileCap, MaxTotalSize: fileCap + 100, MaxEntries: 50}))
			req := tt.req(t)
			req.Name, req.Catalog = "broker/fake", "test"
			_, err := in.Install(ctx, req)
			if err == nil {
				t.Fatal("installed")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "broker/fake (catalog test)") {
				t.Errorf("error %q, want it to name the plugin and the catalog and say %q", err, tt.want)
			}
			assertUnchanged(t, in, before)
		})
	}
}

// fileCap is the archive cap of the tests: above the fake plugin's size.
const fileCap = 8 << 20

type hostileArchive struct {
	name, format, want string
	data               []byte
}

func hostileArchives(t *testing.T) []hostileArchive {
	bin, _ := os.ReadFile(fakes["v2"])
	binEntry := archivetest.Entry{Name: "micro-plugin-broker-fake", Body: string(bin[:1000])}
	var out []hostileArchive
	for _, h := range []struct {
		name    string
		entries []archivetest.Entry
		want    string
		tarOnly bool
	}{
		{"dot-dot", []archivetest.Entry{binEntry, {Name: "../../evil", Body: "x"}}, `".." in path`, false},
		{"absolute", []archivetest.Entry{{Name: "/tmp/micro-evil", Body: "x"}, binEntry}, "absolute path", false},
		{"symlink escaping", []archivetest.Entry{{Name: "lib", Type: '2', Linkname: "../../.."}, binEntry}, "points outside", false},
		{"symlink binary to /etc/passwd", []archivetest.Entry{{Name: "micro-plugin-broker-fake", Type: '2', Linkname: "/etc/passwd"}}, "points outside", false},
		{"hard link escaping", []archivetest.Entry{binEntry, {Name: "h", Type: '1', Linkname: "../micro.lock"}}, "hard link", true},
		{"device", []archivetest.Entry{{Name: "null", Type: '3'}, binEntry}, "device file", false},
		{"per-file bomb", []archivetest.Entry{{Name: "micro-plugin-broker-fake", Size: fileCap + 1}}, "decompression bomb", false},
		{"total bomb", []archivetest.Entry{{Name: "a", Size: fileCap / 2}, {Name: "b", Size: fileCap / 2}, {Name: "c", Size: fileCap / 2}}, "decompression bomb", false},
	} {
		out = append(out, hostileArchive{h.name + " (tar.gz)", "tar.gz", h.want, archivetest.TarGz(t, h.entries...)})
		if !h.tarOnly {
			out = append(out, hostileArchive{h.name + " (zip)", "zip", h.want, archivetest.Zip(t, h.entries...)})
		}
	}
	return out
}

func TestHandshakeTimeout(t *testing.T) {
	in, before := installV1(t, install.WithHandshakeTimeout(500*time.Millisecond))
	start := time.Now()
	_, err := in.Install(context.Background(), install.Request{Name: "broker/fake", Catalog: "test",
		Version: artifactVersion("2.0.0", fileURL(fakes["silent"]), sumOf(t, fakes["silent"]))})
	if err == nil || !strings.Contains(err.Error(), "no handshake within") {
		t.Fatalf("silent plugin: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	assertUnchanged(t, in, before)
}

func TestUpgradeReplacesBinaryAndLock(t *testing.T) {
	in, _ := installV1(t)
	ctx := context.Background()
	v2 := sumOf(t, fakes["v2"])
	if _, err := in.Install(ctx, install.Request{Name: "broker/fake", Catalog: "test", Version: artifactVersion("2.0.0", fileURL(fakes["v2"]), v2)}); err != nil {
		t.Fatal(err)
	}
	lock, _ := in.Installed()
	if p, _ := lock.Get("broker/fake"); p.Version != "2.0.0" || p.SHA256[pluginlock.Platform()] != v2 {
		t.Errorf("lock after upgrade: %+v", p)
	}
	if sumOf(t, in.BinaryPath("broker/fake")) != v2 {
		t.Error("binary not replaced")
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	type tamper struct {
		name   string
		do     func(t *testing.T, path string)
		status string
		want   string
	}
	for _, tt := range []tamper{
		{"one byte flipped", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o755)
		}, install.StatusModified, "the binary changed after it was installed"},
		{"deleted", func(t *testing.T, p string) { os.Remove(p) }, install.StatusMissing, "is missing"},
		{"group-writable", func(t *testing.T, p string) { os.Chmod(p, 0o775) }, install.StatusUnsafe, "writable by group or others"},
		{"replaced by a link", func(t *testing.T, p string) {
			os.Rename(p, p+".real")
			os.Symlink(p+".real", p)
		}, install.StatusUnsafe, "symbolic link"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := installV1(t)
			tt.do(t, in.BinaryPath("broker/fake"))
			checks, err := in.Verify(ctx, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			c := checks[0]
			if c.Status != tt.status || c.OK() || !strings.Contains(c.Problem, tt.want) || c.Fix != "micro-new install test:broker/fake@1.0.0" {
				t.Errorf("check %+v, want status %s, problem %q and a fix", c, tt.status, tt.want)
			}
		})
	}
	t.Run("BLAKE3 edited in the lock", func(t *testing.T) {
		in, _ := installV1(t)
		lock, _ := in.Installed()
		p, _ := lock.Get("broker/fake")
		p.BLAKE3 = map[string]string{pluginlock.Platform(): strings.Repeat("0", 64)}
		lock.Put(p)
		if err := pluginlock.Write(filepath.Join(in.Dir(), pluginlock.FileName), lock); err != nil {
			t.Fatal(err)
		}
		checks, _ := in.Verify(ctx, nil, "")
		if c := checks[0]; c.Status != install.StatusModified || !strings.Contains(c.Problem, "BLAKE3") {
			t.Errorf("check %+v, want the BLAKE3 mismatch a service would refuse", c)
		}
	})
	t.Run("untracked", func(t *testing.T) {
		in, _ := installV1(t)
		os.WriteFile(filepath.Join(in.Dir(), "micro-plugin-store-stray"), []byte("x"), 0o755)
		checks, _ := in.Verify(ctx, nil, "")
		if len(checks) != 2 || checks[1].Status != install.StatusUntracked || !checks[1].OK() {
			t.Errorf("checks %+v", checks)
		}
	})
	t.Run("differs from the project", func(t *testing.T) {
		in, _ := installV1(t)
		var project pluginlock.File
		project.Put(pluginlock.Plugin{Name: "broker/fake", Version: "1.0.0", Source: "s", SHA256: map[string]string{pluginlock.Platform(): sumOf(t, fakes["v2"])}})
		checks, _ := in.Verify(ctx, &project, "/p/micro.lock")
		if checks[0].Status != install.StatusMismatch || !strings.Contains(checks[0].Problem, "/p/micro.lock") {
			t.Errorf("check %+v", checks[0])
		}
	})
}

func TestRemove(t *testing.T) {
	in, _ := installV1(t)
	ctx := context.Background()
	if err := in.Remove(ctx, "broker/fake"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.BinaryPath("broker/fake")); !os.IsNotExist(err) {
		t.Errorf("binary still there: %v", err)
	}
	lock, _ := in.Installed()
	if len(lock.Plugins) != 0 {
		t.Errorf("lock after remove: %+v", lock)
	}
	if snap := installtest.Snapshot(t, in.Dir()); len(snap) != 2 {
		t.Errorf("left behind: %v", slicesOfKeys(snap))
	}
	err := in.Remove(ctx, "broker/fake")
	var ie *install.Error
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "micro-new list --installed") {
		t.Errorf("removing what is not installed: %v", err)
	}
}

func TestInstallFromSourceCheckout(t *testing.T) {
	src := installtest.Checkout(t, t.TempDir())
	in, _ := newInstaller(t, install.WithSourceDir(src))
	ctx := context.Background()
	entry, err := catalog.NewSet(catalog.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	e, err := entry.Lookup(catalog.Ref{Name: "broker/memory"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := in.Install(ctx, install.Request{Name: "broker/memory", Catalog: "builtin", Version: e.Plugin.Latest()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plugin.Source != "github.com/seedmicro/micro/plugins/broker/memory/cmd/micro-plugin-broker-memory" {
		t.Errorf("source %q", res.Plugin.Source)
	}
	// Reproducible: building again gives the same sha256, so a pin holds.
	res2, err := in.Install(ctx, install.Request{Name: "broker/memory", Catalog: "builtin", Version: e.Plugin.Latest(), Want: res.SHA256, WantOrigin: "test"})
	if err != nil {
		t.Fatalf("rebuild against the pin: %v", err)
	}
	if res2.SHA256 != res.SHA256 {
		t.Errorf("rebuild differs: %s vs %s", res2.SHA256, res.SHA256)
	}

	// Without a checkout or a release version, the error says what to do.
	in2, _ := newInstaller(t)
	_, err = in2.Install(ctx, install.Request{Name: "broker/memory", Catalog: "builtin", Version: e.Plugin.Latest()})
	if err == nil || !strings.Contains(err.Error(), "MICRO_SOURCE_DIR") {
		t.Errorf("no source: %v", err)
	}

	if got := install.FindSourceDir(ctx, "go", filepath.Join(src, "plugins", "broker")); got != src {
		t.Errorf("FindSourceDir = %q, want %q", got, src)
	}
	if got := install.FindSourceDir(ctx, "go", t.TempDir()); got != "" {
		t.Errorf("FindSourceDir outside a module = %q", got)
	}
}

func TestInstallFromModuleProxy(t *testing.T) {
	proxy := t.TempDir()
	installtest.Proxy(t, proxy, "example.com/fake", "micro-plugin-store-fake", "v1.0.0", "v1.1.0")
	env := append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(proxy), "GOSUMDB=off", "GOFLAGS=-modcacherw",
		"GOMODCACHE="+t.TempDir(), "GONOSUMCHECK=1", "GOTOOLCHAIN=local")
	in, _ := newInstaller(t, install.WithEnv(env))
	ctx := context.Background()
	var sums []string
	for _, v := range []string{"1.0.0", "1.1.0"} {
		version := &catalog.Version{Version: v, Protocols: []int{1}, Source: &catalog.Source{Module: "example.com/fake@v" + v, Package: "example.com/fake/cmd/micro-plugin-store-fake"}}
		res, err := in.Install(ctx, install.Request{Name: "store/fake", Catalog: "acme", Version: version})
		if err != nil {
			t.Fatal(err)
		}
		if res.Plugin.Source != "example.com/fake/cmd/micro-plugin-store-fake@v"+v {
			t.Errorf("source %q", res.Plugin.Source)
		}
		sums = append(sums, res.SHA256)
	}
	if sums[0] == sums[1] {
		t.Error("two module versions built the same binary")
	}
}

func TestInstallFrom(t *testing.T) {
	ctx := context.Background()
	t.Run("file", func(t *testing.T) {
		in, _ := newInstaller(t)
		yes := func(context.Context, install.Candidate) (bool, error) { return true, nil }
		res, err := in.Install(ctx, install.Request{Name: "broker/fake", From: fakes["v1"], Confirm: yes})
		if err != nil {
			t.Fatal(err)
		}
		if res.Plugin.Version != "local" || res.Plugin.Source != fakes["v1"] {
			t.Errorf("entry %+v", res.Plugin)
		}
	})
	t.Run("dir", func(t *testing.T) {
		src := installtest.Checkout(t, t.TempDir())
		in, _ := newInstaller(t)
		pkg := filepath.Join(src, "plugins", "store", "memory", "cmd", "micro-plugin-store-memory")
		if _, err := in.Install(ctx, install.Request{Name: "store/memory", From: pkg}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("http needs a sha256", func(t *testing.T) {
		in, _ := newInstaller(t)
		_, err := in.Install(ctx, install.Request{Name: "broker/fake", From: "http://127.0.0.1:1/x"})
		if err == nil || !strings.Contains(err.Error(), "--sha256") {
			t.Errorf("URL without sha256: %v", err)
		}
	})
}

func TestParseHandshake(t *testing.T) {
	h, err := install.ParseHandshake("1|2|unix|/tmp/plugin1|grpc|cert\n")
	if err != nil || h != (install.HandshakeLine{Core: 1, App: 2, Network: "unix", Addr: "/tmp/plugin1", Protocol: "grpc"}) {
		t.Errorf("ParseHandshake = %+v, %v", h, err)
	}
	for _, bad := range []string{"", "hello world", "1|x|unix|a|grpc", "x|1|unix|a|grpc", "1|1|unix"} {
		if _, err := install.ParseHandshake(bad); err == nil {
			t.Errorf("ParseHandshake(%q) succeeded", bad)
		}
	}
}

func TestPluginDirChecks(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o755)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	for dir, want := range map[string]string{link: "symbolic link", open: "chmod go-w"} {
		in := install.New(dir, install.WithHandshake(testHandshake))
		_, err := in.Install(context.Background(), install.Request{Name: "broker/fake", From: fakes["v1"]})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("plugin dir %s: %v, want %q", dir, err, want)
		}
	}
}

// TestVerifyReportsUnsafePluginDirectory is issue 12, item 1, as `micro-new
// verify` sees it: a plugin directory the host refuses (here group-writable,
// below a directory others may write, and, as root, owned by another user)
// makes verify report the plugin unsafe, naming every condition, where it
// said ok before.
func TestVerifyReportsUnsafePluginDirectory(t *testing.T) {
	in, _ := installV1(t)
	dir := in.Dir()
	parent := filepath.Dir(dir)
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o757); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(parent, 0o755); os.Chmod(dir, 0o755) })
	want := []string{dir + " is a directory on the plugin's path writable by group or others", parent + " is a directory on the plugin's path writable by group or others"}
	checks, err := in.Verify(context.Background(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c := checks[0]
	if c.Status != install.StatusUnsafe || c.OK() {
		t.Fatalf("check %+v, want status %s", c, install.StatusUnsafe)
	}
	for _, w := range want {
		if !strings.Contains(c.Problem, w) {
			t.Errorf("problem %q does not say %q", c.Problem, w)
		}
	}
	if !strings.Contains(c.Fix, "chmod go-w "+dir) || !strings.Contains(c.Fix, "chmod go-w "+parent) {
		t.Errorf("fix %q does not say how to fix both directories", c.Fix)
	}
	// The host's rule agrees, condition for condition.
	if got := len(pluginlock.CheckDir(dir)); got != len(want) {
		t.Errorf("pluginlock.CheckDir reports %d conditions, verify %d", got, len(want))
	}
}
