package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/testkit"
)

// Issue 13 item 5: exit status 2 for every usage error (unknown command,
// unknown flag, missing or extra argument), 1 for a failure. Before, an
// unknown command or flag of a command exited 1 (or 3 for `help X`), and a
// flag error printed the whole help.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string // in stderr
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"instal", "broker/redis"}, 2, `did you mean "install"?`},
		{[]string{"help", "instal"}, 2, `did you mean "install"?`},
		{[]string{}, 2, "no command given"},
		{[]string{"--bogus", "list"}, 2, "unknown flag --bogus"},
		{[]string{"list", "--instaled"}, 2, "did you mean --installed?"},
		{[]string{"install", "broker/redis", "--form", "x"}, 2, "did you mean --from?"},
		{[]string{"info"}, 2, "info takes one plugin name"},
		{[]string{"install", "broker/redis", "--from"}, 2, "flag needs an argument"},
		{[]string{"--plugin-dir"}, 2, "flag needs an argument"},
		{[]string{"list", "--plugin-dir"}, 2, "flag needs an argument: -plugin-dir"},
		{[]string{"info", "a/b", "c/d"}, 2, "info takes one plugin name"},
		{[]string{"search"}, 2, "search takes one TERM"},
		{[]string{"remove"}, 2, "remove takes one plugin name"},
		{[]string{"install"}, 2, "no plugin named"},
		{[]string{"install", "a/b", "c/d"}, 2, "install takes one plugin name"},
		{[]string{"list", "extra"}, 2, "list takes no argument"},
		{[]string{"upgrade", "a/b", "c/d"}, 2, "upgrade takes at most one"},
		{[]string{"completion"}, 2, "bash, zsh or fish"},
		{[]string{"completion", "tcsh"}, 2, `unknown shell "tcsh"`},
		{[]string{"doctor", "now"}, 2, "doctor takes no argument"},
		{[]string{"info", "broker/nope"}, 1, "plugin broker/nope is not in catalog"},
		{[]string{"remove", "broker/nats"}, 1, "not installed"},
		{[]string{"uninstall", "broker/nats"}, 1, "not installed"},
		{[]string{"list"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newCLI(t)
			code, _, errs := c.run(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, errs)
			}
			if !strings.Contains(errs, tt.msg) {
				t.Errorf("stderr lacks %q:\n%s", tt.msg, errs)
			}
			if tt.code == 2 && strings.Count(errs, "\n") > 1 && !strings.Contains(errs, "GLOBAL OPTIONS") {
				t.Errorf("a usage error is one line:\n%s", errs)
			}
		})
	}
}

// Issue 13 item 5: the "did you mean" is right: near names only, and an
// alias leads to the command it names (uninstall → remove, never install).
func TestDidYouMean(t *testing.T) {
	tests := []struct{ typed, want string }{
		{"instal", `did you mean "install"?`},
		{"isntall", `did you mean "install"?`},
		{"uninstal", `did you mean "remove"?`},
		{"unistall", `did you mean "remove"?`},
		{"lsit", `did you mean "list"?`},
		{"verfiy", `did you mean "verify"?`},
		{"doctr", `did you mean "doctor"?`},
		{"nothing", ""},
		{"xyz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			c := newCLI(t)
			code, _, errs := c.run(tt.typed)
			if code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if tt.want == "" {
				if strings.Contains(errs, "did you mean") {
					t.Errorf("a far name got a suggestion: %s", errs)
				}
				return
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr %q lacks %q", errs, tt.want)
			}
		})
	}
	// uninstall is the remove command itself.
	c := newCLI(t)
	c.ok("install", "broker/fake", "--from", fakes["v1"], "--yes")
	if out := c.ok("uninstall", "broker/fake"); !strings.Contains(out, "removed broker/fake") {
		t.Errorf("uninstall: %s", out)
	}
	c.ok("install", "broker/fake", "--from", fakes["v1"], "--yes")
	if out := c.ok("ls", "--installed"); !strings.Contains(out, "broker/fake") {
		t.Errorf("ls --installed: %s", out)
	}
	if out := c.ok("rm", "broker/fake"); !strings.Contains(out, "removed broker/fake") {
		t.Errorf("rm: %s", out)
	}
}

// Issue 13 item 8: a mistyped plugin name gets the nearest catalog name.
func TestUnknownPluginSuggestsNearest(t *testing.T) {
	c := newCLI(t)
	for typed, want := range map[string]string{"broker/redsi": "did you mean broker/redis?", "store/nast": "did you mean store/nats?"} {
		contains(t, "info "+typed, c.fail("info", typed), want)
		contains(t, "install "+typed, c.fail("install", typed), want)
	}
}

// Issue 13 item 5: every command's help has an EXAMPLES section, and the
// root help documents the exit statuses.
func TestEveryCommandHasExamples(t *testing.T) {
	c := newCLI(t)
	app := newApp(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	for _, cmd := range app.Commands {
		t.Run(cmd.Name, func(t *testing.T) {
			help := c.ok(cmd.Name, "--help")
			if !strings.Contains(help, "\nEXAMPLES:\n") || !strings.Contains(help, "micro-new "+cmd.Name) {
				t.Errorf("micro-new %s --help has no EXAMPLES section using the command:\n%s", cmd.Name, help)
			}
		})
	}
	contains(t, "micro-new --help", c.ok("--help"), "EXAMPLES:", "EXIT STATUS:", "2  a usage error", "completion", "doctor")
}

// Issue 13 item 5: with --json, an error is a JSON object on stderr.
func TestJSONErrors(t *testing.T) {
	tests := []struct {
		args  []string
		code  int
		usage bool
		msg   string
	}{
		{[]string{"--json", "info", "broker/nope"}, 1, false, "not in catalog"},
		{[]string{"info", "broker/nope", "--json"}, 1, false, "not in catalog"},
		{[]string{"--json", "frobnicate"}, 2, true, "unknown command"},
		{[]string{"list", "--json", "--bogus"}, 2, true, "unknown flag --bogus"},
		{[]string{"install", "broker/x", "--from", "http://127.0.0.1:9/x", "--json"}, 1, false, "--sha256"},
		{[]string{"install", "broker/x", "--from", fakes["v1"], "--json"}, 2, true, "pass --yes"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newCLI(t)
			code, _, errs := c.run(tt.args...)
			var got struct {
				Error    string `json:"error"`
				Fix      string `json:"fix"`
				ExitCode int    `json:"exit_code"`
				Usage    bool   `json:"usage_error"`
			}
			if err := json.Unmarshal([]byte(errs), &got); err != nil || strings.Count(errs, "\n") != 1 {
				t.Fatalf("stderr is not one JSON object on one line: %v\n%s", err, errs)
			}
			if code != tt.code || got.ExitCode != tt.code || got.Usage != tt.usage || !strings.Contains(got.Error+got.Fix, tt.msg) {
				t.Errorf("exit %d, %+v; want exit %d, usage %v, %q", code, got, tt.code, tt.usage, tt.msg)
			}
		})
	}
}

// runBinary runs the built micro-new with env added to a clean environment.
func runBinary(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	return testkit.Run(t, cmd)
}

// Issue 13 item 5: `micro-new completion bash|zsh|fish`, through urfave/cli's
// completion flag: bash completes commands, aliases and plugin names.
func TestCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed: apt-get install bash")
	}
	dir := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(dir, "micro-new")); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		script := `source <(micro-new completion bash)
COMP_WORDS=(` + strings.Join(quoteAll(words), " ") + `)
COMP_CWORD=$((${#COMP_WORDS[@]}-1))
_micro_new
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "-c", script)
		cmd.Env = []string{"PATH=" + dir + ":" + os.Getenv("PATH"), "HOME=" + t.TempDir(), envPluginDir + "=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	tests := []struct {
		words []string
		want  string
	}{
		{[]string{"micro-new", "ins"}, "install"},
		{[]string{"micro-new", "uni"}, "uninstall"},
		{[]string{"micro-new", "doc"}, "doctor"},
		{[]string{"micro-new", "install", "broker/rab"}, "broker/rabbitmq"},
		{[]string{"micro-new", "info", "store/"}, "store/redis"},
		{[]string{"micro-new", "install", "--fr"}, "--from"},
		{[]string{"micro-new", "completion", "fi"}, "fish"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.words, " "), func(t *testing.T) {
			got := complete(tt.words...)
			found := false
			for _, g := range got {
				found = found || g == tt.want
			}
			if !found {
				t.Errorf("completions %q lack %q", got, tt.want)
			}
		})
	}
	code, out, _ := runBinary(t, t.TempDir(), nil, "completion", "fish")
	if code != 0 || !strings.Contains(out, "complete -c micro-new") || !strings.Contains(out, "install") {
		t.Errorf("fish: exit %d\n%s", code, out)
	}
	code, out, _ = runBinary(t, t.TempDir(), nil, "completion", "zsh")
	if code != 0 || !strings.Contains(out, "compdef _micro_new micro-new") {
		t.Errorf("zsh: exit %d\n%s", code, out)
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		if b, err := exec.Command(zsh, "-n", "-c", out).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, b)
		}
	}
}

func quoteAll(words []string) []string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return q
}

// Issue 13 item 5: doctor checks Go, the source, the plugin directory and
// the configured servers, with one line of advice per problem.
func TestDoctor(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		c := newCLI(t)
		out := c.ok("doctor")
		contains(t, "doctor", out, "ok    go", "ok    source", checkout, "ok    plugins")
	})
	t.Run("problems", func(t *testing.T) {
		c := newCLI(t)
		c.ok("install", "broker/fake", "--from", fakes["v1"], "--yes")
		os.Chmod(c.pluginDir, 0o777)
		defer os.Chmod(c.pluginDir, 0o755)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		c.vars["MICRO_BROKER"] = "redis"
		c.vars["MICRO_STORE"] = "nats"
		c.vars["MICRO_STORE_ADDRESS"] = "nats://user:s3cret@" + closed
		c.vars[envSourceDir] = t.TempDir()
		code, out, errs := c.run("doctor")
		if code != 1 {
			t.Fatalf("doctor with problems: exit %d\n%s", code, out)
		}
		contains(t, "doctor", out,
			"FAIL  source", "has no go.mod", "→ ",
			"FAIL  plugins", "chmod go-w "+c.pluginDir,
			"FAIL  broker", "broker/redis is not installed", "micro-new install broker/redis",
			"FAIL  store",
		)
		if strings.Contains(out, "s3cret") {
			t.Errorf("doctor printed a password:\n%s", out)
		}
		contains(t, "doctor stderr", errs, "checks failed")
		if n := strings.Count(out, "→ "); n != 4 {
			t.Errorf("%d lines of advice, want one per problem (4):\n%s", n, out)
		}
	})
	t.Run("server down", func(t *testing.T) {
		c := newCLI(t)
		c.ok("install", "broker/fake", "--from", fakes["v1"], "--yes")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		c.vars[envCatalog] = writeCatalog(t, "test", map[string]string{"1.0.0": fakes["v1"]}, "")
		c.vars["MICRO_BROKER"] = "fake"
		c.vars["MICRO_BROKER_ADDRESS"] = "redis://" + closed
		code, out, _ := c.run("doctor")
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		contains(t, "doctor", out, "FAIL  broker", "cannot reach broker/fake's server at "+closed, "start the server")
	})
	t.Run("config file", func(t *testing.T) {
		c := newCLI(t)
		c.ok("install", "broker/fake", "--from", fakes["v1"], "--yes")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c.vars[envCatalog] = writeCatalog(t, "test", map[string]string{"1.0.0": fakes["v1"]}, "")
		cfg := filepath.Join(t.TempDir(), "micro.json")
		os.WriteFile(cfg, []byte(`{"broker": {"name": "fake", "address": "redis://`+ln.Addr().String()+`"}}`), 0o644)
		c.vars["MICRO_CONFIG"] = cfg
		out := c.ok("doctor")
		contains(t, "doctor", out, "ok    broker", "broker/fake installed; its server at "+ln.Addr().String()+" accepts connections")
		os.WriteFile(cfg, []byte(`{"broker": {"nmae": "fake"}}`), 0o644)
		code, out, _ := c.run("doctor")
		if code != 1 {
			t.Fatalf("a bad config file: exit %d\n%s", code, out)
		}
		contains(t, "doctor", out, "FAIL  config", "nmae", "→ fix the file of $MICRO_CONFIG")
	})
}

// Issue 13 item 6: a catalog or download URL whose server accepts and never
// answers fails after the timeout, naming the URL, in the real binary.
func TestHangingServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	}()
	base := "http://" + ln.Addr().String()
	start := time.Now()
	env := []string{envTimeout + "=1s", envPluginDir + "=" + filepath.Join(t.TempDir(), "p")}
	code, _, errs := runBinary(t, t.TempDir(), env, "--catalog", base+"/catalog.json", "list")
	if code != 1 || !strings.Contains(errs, base+"/catalog.json") || !strings.Contains(errs, "MICRO_HTTP_TIMEOUT") {
		t.Errorf("--catalog: exit %d\n%s", code, errs)
	}
	code, _, errs = runBinary(t, t.TempDir(), env, "install", "broker/x", "--from", base+"/plugin", "--sha256", strings.Repeat("a", 64))
	if code != 1 || !strings.Contains(errs, base+"/plugin") || !strings.Contains(errs, "MICRO_HTTP_TIMEOUT") {
		t.Errorf("--from URL: exit %d\n%s", code, errs)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v, want under 15s", d)
	}
	if code, _, errs := runBinary(t, t.TempDir(), []string{envTimeout + "=soon"}, "list"); code != 2 || !strings.Contains(errs, "MICRO_HTTP_TIMEOUT") {
		t.Errorf("a bad MICRO_HTTP_TIMEOUT: exit %d: %s", code, errs)
	}
}

// Issue 12 item 6: SIGTERM during an install stops it as SIGINT does: the go
// build's whole process group is killed, and nothing is left in the plugin
// directory. Before, micro-new died at once and left the build running and
// the staging directory behind.
func TestSIGTERMDuringInstall(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			// A go that builds for ever: it starts a child (as go starts the
			// compiler) and waits.
			fakeGo := "#!/bin/sh\nif [ \"$1\" = env ]; then echo; exit 0; fi\nsleep 300 &\necho $! > '" + pidFile + "'\nwait\n"
			if err := os.WriteFile(filepath.Join(dir, "go"), []byte(fakeGo), 0o755); err != nil {
				t.Fatal(err)
			}
			pkg := t.TempDir()
			pluginDir := filepath.Join(t.TempDir(), "plugins")
			cmd := exec.Command(binary, "install", "broker/slow", "--from", pkg)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "HOME=" + t.TempDir(), envPluginDir + "=" + pluginDir}
			proc := testkit.Start(t, cmd)
			var child int
			deadline := time.Now().Add(20 * time.Second)
			for child == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the build did not start:\n%s", proc.Out.String())
				}
				b, _ := os.ReadFile(pidFile)
				child, _ = parsePID(b)
				time.Sleep(20 * time.Millisecond)
			}
			defer syscall.Kill(child, syscall.SIGKILL)
			if proc.Stop(t, sig, 10*time.Second) == nil {
				t.Error("an interrupted install exited 0")
			}
			deadline = time.Now().Add(5 * time.Second)
			for syscall.Kill(child, 0) == nil {
				if b, _ := os.ReadFile("/proc/" + itoa(child) + "/stat"); strings.Contains(string(b), ") Z ") {
					break // a zombie, waiting for its reaper: dead
				}
				if time.Now().After(deadline) {
					t.Fatalf("the build's child (pid %d) still runs after micro-new stopped", child)
				}
				time.Sleep(20 * time.Millisecond)
			}
			entries, _ := os.ReadDir(pluginDir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".micro-new-") {
					t.Errorf("staging directory left behind: %s", e.Name())
				}
			}
		})
	}
}

func parsePID(b []byte) (int, bool) {
	s := strings.TrimSpace(string(b))
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, n > 0
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

var _ = context.Background

// Issue 12 item 6: while another micro-new holds the plugin directory's
// lock, install says which process it waits for, and SIGINT stops the wait.
func TestWaitingForAnotherMicroNew(t *testing.T) {
	pluginDir := filepath.Join(t.TempDir(), "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pluginDir, ".micro-new.owner"), []byte("4242\n"), 0o644)
	cmd := exec.Command(binary, "install", "broker/fake", "--from", fakes["v1"], "--yes")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), envPluginDir + "=" + pluginDir, envSourceDir + "=" + checkout}
	proc := testkit.Start(t, cmd)
	proc.WaitFor(t, "waiting for another micro-new (pid 4242) to finish", 10*time.Second)
	if proc.Stop(t, os.Interrupt, 5*time.Second) == nil {
		t.Error("an interrupted install exited 0")
	}
	if _, err := os.Stat(filepath.Join(pluginDir, "micro-plugin-broker-fake")); err == nil {
		t.Error("installed while another held the lock")
	}
}
