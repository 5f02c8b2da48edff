package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/archive/archivetest"
	"github.com/seedmicro/micro/internal/install/installtest"
	"github.com/seedmicro/micro/internal/testkit"
)

var (
	fakes    = map[string]string{} // built fake plugins by name
	binary   string                // the built micro-new
	checkout string                // a fake checkout of the micro module
)

func TestMain(m *testing.M) {
	testkit.Main(m, func(tb testing.TB) {
		for name, f := range map[string]installtest.Fake{"v1": {Tag: "v1"}, "v2": {Tag: "v2"}} {
			fakes[name] = filepath.Join(tb.TempDir(), name)
			installtest.Build(tb, fakes[name], f)
		}
		checkout = installtest.Checkout(tb, filepath.Join(tb.TempDir(), "checkout"))
		binary = testkit.Binary(tb, ".")
	})
}

// cli is one micro-new environment: a plugin directory, a working directory
// and environment variables.
type tcli struct {
	t         *testing.T
	pluginDir string
	wd        string
	vars      map[string]string
}

func newCLI(t *testing.T) *tcli {
	t.Helper()
	return &tcli{t: t, pluginDir: filepath.Join(t.TempDir(), "plugins"), wd: t.TempDir(),
		vars: map[string]string{"HOME": t.TempDir(), envSourceDir: checkout}}
}

// run runs micro-new in-process and returns its exit code and outputs.
func (c *tcli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, wd: c.wd, client: http.DefaultClient,
		getenv: func(k string) string { return c.vars[k] }}
	all := append([]string{"micro-new", "--plugin-dir", c.pluginDir}, args...)
	code = run(context.Background(), all, e)
	return code, out.String(), errb.String()
}

// ok runs micro-new and fails the test on a non-zero exit.
func (c *tcli) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("micro-new %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fail runs micro-new, wants a non-zero exit, and returns stderr.
func (c *tcli) fail(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code == 0 {
		c.t.Fatalf("micro-new %s succeeded\nstdout: %s", strings.Join(args, " "), out)
	}
	return errs
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

type listed struct {
	Name      string             `json:"name"`
	Kind      string             `json:"kind"`
	Catalog   string             `json:"catalog"`
	Latest    string             `json:"latest"`
	Versions  []string           `json:"versions"`
	Installed *pluginlock.Plugin `json:"installed"`
}

func TestListJSONHasEveryPlugin(t *testing.T) {
	c := newCLI(t)
	var got []listed
	if err := json.Unmarshal([]byte(c.ok("list", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"broker/rabbitmq": "broker", "broker/redis": "broker", "broker/nats": "broker",
		"registry/redis": "registry", "registry/nats": "registry", "store/redis": "store", "store/nats": "store",
		"broker/memory": "broker", "registry/memory": "registry", "store/memory": "store",
	}
	for _, p := range got {
		if kind, ok := want[p.Name]; ok && p.Kind == kind && len(p.Versions) > 0 && p.Catalog == "builtin" && p.Installed == nil {
			delete(want, p.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("list --json lacks %v (or their kind or versions)", slices.Sorted(maps.Keys(want)))
	}

	table := c.ok("list")
	contains(t, "list", table, "NAME", "KIND", "LATEST", "INSTALLED", "broker/rabbitmq")
	if strings.Contains(table, "CATALOG") {
		t.Error("a CATALOG column with one catalog")
	}
}

func TestSearchAndInfo(t *testing.T) {
	c := newCLI(t)
	var hits []listed
	json.Unmarshal([]byte(c.ok("search", "redis", "--json")), &hits)
	var names []string
	for _, h := range hits {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"broker/redis", "registry/redis", "store/redis"}) {
		t.Errorf("search redis: %v", names)
	}
	contains(t, "search none", c.ok("search", "zzz"), "no plugins")

	info := c.ok("info", "broker/rabbitmq")
	contains(t, "info", info, "broker/rabbitmq (catalog builtin)", "version 0.1.0 (latest)", "RabbitMQ 3.8+",
		"github.com/seedmicro/micro/plugins/broker/rabbitmq/cmd/micro-plugin-broker-rabbitmq", "settings:", "micro-new install broker/rabbitmq")
	var ij struct {
		Name    string `json:"name"`
		Details []struct {
			Protocols      []int    `json:"protocols"`
			Infrastructure []string `json:"infrastructure"`
		} `json:"details"`
	}
	if err := json.Unmarshal([]byte(c.ok("info", "--json", "broker/rabbitmq@0.1.0")), &ij); err != nil || len(ij.Details) != 1 || ij.Details[0].Protocols[0] != 1 {
		t.Errorf("info --json: %+v, %v", ij, err)
	}

	errs := c.fail("info", "broker/kafka")
	contains(t, "info of an unknown plugin", errs, "broker/kafka", "catalog builtin", "micro-new list", "--catalog")
	errs = c.fail("info", "broker/rabbitmq@9.9.9")
	contains(t, "info of an unknown version", errs, "no version 9.9.9", "0.1.0", "micro-new info broker/rabbitmq")
	if code, _, errs := c.run("info"); code != 2 || !strings.Contains(errs, "micro-new info --help") {
		t.Errorf("info without argument: exit %d, %s", code, errs)
	}
	if code, _, _ := c.run("frobnicate"); code == 0 {
		t.Error("an unknown command succeeded")
	}
}

// writeCatalog writes a catalog named name holding broker/fake at the given
// versions, each an artifact of a fake plugin for this platform.
func writeCatalog(t *testing.T, name string, versions map[string]string, extra string) string {
	t.Helper()
	var vs []string
	for _, v := range slices.Sorted(maps.Keys(versions)) {
		bin := versions[v]
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		vs = append(vs, fmt.Sprintf(`{"version": %q, "protocols": [1], "artifacts": [{"os": %q, "arch": %q, "url": %q, "sha256": %q}]}`,
			v, runtime.GOOS, runtime.GOARCH, "file://"+filepath.ToSlash(bin), hex.EncodeToString(sum[:])))
	}
	doc := fmt.Sprintf(`{"format": 1, "name": %q, "plugins": [{"name": "broker/fake", "kind": "broker", "description": "A fake broker for tests.", "versions": [%s]}%s]}`,
		name, strings.Join(vs, ","), extra)
	p := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQualifiedNames(t *testing.T) {
	c := newCLI(t)
	acme := writeCatalog(t, "acme", map[string]string{"1.0.0": fakes["v1"]},
		`, {"name": "broker/rabbitmq", "kind": "broker", "description": "Acme's RabbitMQ.", "versions": [{"version": "9.0.0", "protocols": [1], "source": {"module": "example.com/acme@v9.0.0", "package": "example.com/acme/cmd/x"}}]}`)
	c.vars[envCatalog] = acme
	errs := c.fail("info", "broker/rabbitmq")
	contains(t, "ambiguous name", errs, "broker/rabbitmq is in catalogs builtin and acme", "builtin:broker/rabbitmq", "acme:broker/rabbitmq")
	contains(t, "qualified info", c.ok("info", "acme:broker/rabbitmq"), "Acme's RabbitMQ", "version 9.0.0")
	contains(t, "list with two catalogs", c.ok("list"), "CATALOG", "acme", "builtin", "broker/fake")
	errs = c.fail("info", "other:broker/rabbitmq")
	contains(t, "unknown catalog", errs, "no catalog named other", "--catalog")

	// The same through --catalog, given after the command.
	delete(c.vars, envCatalog)
	contains(t, "--catalog", c.ok("info", "broker/fake", "--catalog", acme), "broker/fake (catalog acme)")
	errs = c.fail("list", "--catalog", filepath.Join(t.TempDir(), "missing.json"))
	contains(t, "missing catalog", errs, "missing.json", "--catalog")
	errs = c.fail("list", "--catalog", acme, "--catalog", acme)
	contains(t, "a catalog twice", errs, `both named "acme"`)
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x01
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestInstallFromSourceVerifyRemove(t *testing.T) {
	c := newCLI(t)
	out := c.ok("install", "broker/memory")
	contains(t, "install", out, "installed broker/memory 0.1.0 at "+filepath.Join(c.pluginDir, "micro-plugin-broker-memory"))

	var got []listed
	json.Unmarshal([]byte(c.ok("list", "--installed", "--json")), &got)
	if len(got) != 1 || got[0].Name != "broker/memory" || got[0].Installed == nil || got[0].Installed.Version != "0.1.0" {
		t.Fatalf("list --installed: %+v", got)
	}
	contains(t, "list", c.ok("list"), "* 0.1.0")
	contains(t, "info of an installed plugin", c.ok("info", "broker/memory"), "installed: 0.1.0 at")

	contains(t, "verify", c.ok("verify"), "broker/memory", "ok")

	flipByte(t, filepath.Join(c.pluginDir, "micro-plugin-broker-memory"))
	code, stdout, errs := c.run("verify")
	if code != 1 {
		t.Fatalf("verify of a tampered plugin: exit %d", code)
	}
	contains(t, "verify of a tampered plugin", stdout, "modified")
	contains(t, "verify of a tampered plugin", errs, "plugin broker/memory (catalog builtin)", "the binary changed after it was installed", "micro-new install broker/memory@0.1.0")
	var checks []struct{ Name, Status string }
	code, stdout, _ = c.run("verify", "--json")
	if json.Unmarshal([]byte(stdout), &checks); code != 1 || len(checks) != 1 || checks[0].Status != "modified" {
		t.Errorf("verify --json: exit %d, %+v", code, checks)
	}

	c.ok("install", "broker/memory") // the fix the message gives
	c.ok("verify")

	contains(t, "remove", c.ok("remove", "broker/memory"), "removed broker/memory")
	json.Unmarshal([]byte(c.ok("list", "--installed", "--json")), &got)
	if len(got) != 0 {
		t.Errorf("list --installed after remove: %+v", got)
	}
	contains(t, "remove again", c.fail("remove", "broker/memory"), "broker/memory", "not installed", "micro-new list --installed")
	contains(t, "verify of nothing", c.ok("verify"), "no plugins installed")
}

func TestOutdatedAndUpgrade(t *testing.T) {
	c := newCLI(t)
	cat := writeCatalog(t, "test", map[string]string{"1.0.0": fakes["v1"], "1.1.0": fakes["v2"]}, "")
	c.vars[envCatalog] = cat
	c.ok("install", "broker/fake@1.0.0")
	contains(t, "outdated", c.ok("outdated"), "broker/fake", "1.0.0", "1.1.0", "micro-new upgrade")
	var od []map[string]string
	json.Unmarshal([]byte(c.ok("outdated", "--json")), &od)
	if len(od) != 1 || od[0]["installed"] != "1.0.0" || od[0]["latest"] != "1.1.0" || od[0]["catalog"] != "test" {
		t.Errorf("outdated --json: %v", od)
	}
	contains(t, "upgrade", c.ok("upgrade"), "upgraded 1.0.0 → broker/fake 1.1.0")
	contains(t, "outdated after upgrade", c.ok("outdated"), "up to date")
	contains(t, "upgrade when up to date", c.ok("upgrade", "broker/fake"), "up to date")
	lock, err := pluginlock.ReadDir(c.pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := lock.Get("broker/fake"); p.Version != "1.1.0" || p.Catalog != "test" {
		t.Errorf("lock after upgrade: %+v", p)
	}
	c.ok("verify")

	// Without the catalog the plugin came from, the error says how to add it.
	delete(c.vars, envCatalog)
	contains(t, "outdated without the catalog", c.fail("outdated"), "broker/fake", "catalog test", "--catalog")
	contains(t, "upgrade of what is not installed", c.fail("upgrade", "store/redis"), "store/redis is not installed", "micro-new install store/redis")
}

func TestProjectLock(t *testing.T) {
	cat := writeCatalog(t, "test", map[string]string{"1.0.0": fakes["v1"], "1.1.0": fakes["v2"]}, "")
	project := t.TempDir()
	sub := filepath.Join(project, "cmd", "svc")
	os.MkdirAll(sub, 0o755)

	// A developer pins broker/fake 1.0.0 and broker/memory.
	dev := newCLI(t)
	dev.vars[envCatalog] = cat
	dev.wd = project
	out := dev.ok("install", "broker/fake@1.0.0", "--pin")
	contains(t, "install --pin", out, "pinned in "+filepath.Join(project, "micro.lock"))
	dev.wd = sub // found upward from now on
	dev.ok("install", "broker/memory")
	lock, err := pluginlock.Read(filepath.Join(project, "micro.lock"))
	if err != nil || len(lock.Plugins) != 2 {
		t.Fatalf("project lock: %+v, %v", lock, err)
	}

	// Another machine (empty plugin dir) installs exactly what is pinned.
	other := newCLI(t)
	other.vars[envCatalog] = cat
	other.wd = sub
	out = other.ok("install")
	contains(t, "install in a project", out, "installed broker/fake 1.0.0", "installed broker/memory 0.1.0")
	contains(t, "install again", other.ok("install"), "broker/fake 1.0.0 is up to date", "broker/memory 0.1.0 is up to date")
	other.ok("verify")
	// A plain install of a pinned plugin keeps the pinned version, not the latest.
	contains(t, "install of a pinned plugin", other.ok("install", "broker/fake"), "installed broker/fake 1.0.0")

	// The project pins another hash: the install is refused, and nothing changes.
	pin, _ := lock.Get("broker/fake")
	pin.SHA256[pluginlock.Platform()] = strings.Repeat("ab", 32)
	lock.Put(pin)
	pluginlock.Write(filepath.Join(project, "micro.lock"), lock)
	fresh := newCLI(t)
	fresh.vars[envCatalog] = cat
	fresh.wd = sub
	errs := fresh.fail("install")
	contains(t, "install against a different pin", errs, "broker/fake (catalog test)", "pins for broker/fake 1.0.0", "nothing was installed", "--update-lock", "1 of the 2 plugins")
	if l, _ := pluginlock.ReadDir(fresh.pluginDir); len(l.Plugins) != 1 {
		t.Errorf("plugin dir lock after a refused install: %+v", l.Plugins)
	}
	if _, err := os.Stat(filepath.Join(fresh.pluginDir, "micro-plugin-broker-fake")); !os.IsNotExist(err) {
		t.Error("the refused binary was installed")
	}
	// verify inside the project sees that the installed plugin is not the pinned one.
	errs = other.fail("verify")
	contains(t, "verify against the project", errs, "broker/fake", "project lock")
	// --update-lock accepts the build and pins it.
	fresh.ok("install", "broker/fake", "--update-lock")
	lock, _ = pluginlock.Read(filepath.Join(project, "micro.lock"))
	if p, _ := lock.Get("broker/fake"); p.SHA256[pluginlock.Platform()] == strings.Repeat("ab", 32) {
		t.Error("--update-lock did not repin")
	}

	// Outside a project, install without a name says what to do.
	lone := newCLI(t)
	contains(t, "install outside a project", lone.fail("install"), "no plugin named", "--pin")
}

func TestInstallHostileArchiveChangesNothing(t *testing.T) {
	c := newCLI(t)
	c.ok("install", "broker/memory")
	before := installtest.Snapshot(t, c.pluginDir)
	bad := filepath.Join(t.TempDir(), "evil.tar.gz")
	os.WriteFile(bad, archivetest.TarGz(t, archivetest.Entry{Name: "../../../evil", Body: "x"}), 0o644)
	errs := c.fail("install", "broker/memory", "--from", bad)
	contains(t, "hostile archive", errs, "broker/memory", `".." in path`)
	if after := installtest.Snapshot(t, c.pluginDir); !maps.Equal(before, after) {
		t.Errorf("the plugin directory changed:\n%v\n%v", before, after)
	}
	c.ok("remove", "broker/memory")
	c.ok("install", "broker/fake", "--from", fakes["v1"], "--yes")
	var got []listed
	json.Unmarshal([]byte(c.ok("list", "--installed", "--json")), &got)
	if len(got) != 1 || got[0].Name != "broker/fake" || got[0].Installed == nil || got[0].Installed.Version != "local" {
		t.Errorf("list --installed of a plugin in no catalog: %+v", got)
	}
	contains(t, "--from with URL and no sha256", c.fail("install", "broker/memory", "--from", "http://127.0.0.1:9/x"), "--sha256")
}

func TestHelp(t *testing.T) {
	c := newCLI(t)
	contains(t, "help", c.ok("--help"), "list", "search", "info", "install", "remove", "verify", "upgrade", "outdated", "--plugin-dir", "MICRO_PLUGIN_DIR", "--catalog", "--json")
	contains(t, "install --help", c.ok("install", "--help"), "--from", "--sha256", "--pin", "--update-lock", "handshake", "micro.lock")
}

// The reordering itself is tested in internal/cliargs; here, that micro-new
// applies it to its own flags, and leaves a completion line as typed.
func TestNormalizeArgs(t *testing.T) {
	app := newApp(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	for in, want := range map[string]string{
		"--plugin-dir d install broker/x --from f --pin": "--plugin-dir d install --from f --pin -- broker/x",
		"info broker/x --catalog c.json --json":          "--catalog c.json --json info -- broker/x",
		"install broker/x " + completionFlag:             "install broker/x " + completionFlag,
	} {
		got := strings.Join(normalizeArgs(app, append([]string{"micro-new"}, strings.Fields(in)...))[1:], " ")
		if got != want {
			t.Errorf("normalizeArgs(%s) = %s, want %s", in, got, want)
		}
	}
}

// The built binary: exit codes and streams of a real process.
func TestBinary(t *testing.T) {
	pluginDir := filepath.Join(t.TempDir(), "plugins")
	runBin := func(args ...string) (int, string, string) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), envPluginDir+"="+pluginDir, envSourceDir+"="+checkout, envCatalog+"=")
		return testkit.Run(t, cmd)
	}
	code, out, _ := runBin("list", "--json")
	var got []listed
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got) < 10 {
		t.Fatalf("list --json: exit %d, %v, %d plugins", code, err, len(got))
	}
	if code, out, errs := runBin("install", "store/memory"); code != 0 || !strings.Contains(out, "installed store/memory") {
		t.Fatalf("install: exit %d\n%s\n%s", code, out, errs)
	} else if strings.Contains(out, "store/memory: building") || !strings.Contains(errs, "store/memory: building") {
		t.Errorf("progress belongs on stderr:\nstdout %s\nstderr %s", out, errs)
	}
	if code, _, errs := runBin("verify"); code != 0 {
		t.Fatalf("verify: exit %d: %s", code, errs)
	}
	flipByte(t, filepath.Join(pluginDir, "micro-plugin-store-memory"))
	code, _, errs := runBin("verify")
	if code != 1 {
		t.Fatalf("verify of a tampered binary: exit %d", code)
	}
	contains(t, "verify", errs, "plugin store/memory", "micro-new install store/memory@0.1.0")
	if code, _, errs := runBin("install"); code != 2 || !strings.Contains(errs, "no plugin named") {
		t.Errorf("install outside a project: exit %d: %s", code, errs)
	}
	if code, _, _ := runBin("info"); code != 2 {
		t.Errorf("usage error: exit %d, want 2", code)
	}
}
