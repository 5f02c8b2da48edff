package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 13 item 8: `make help` lists every target of the Makefile. Before,
// it hid `tools`.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("make", "-s", "-C", "..", "help").CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s (install make: apt-get install make)", err, out)
	}
	targets := regexp.MustCompile(`(?m)^([a-z][a-z-]*):`).FindAllStringSubmatch(string(makefile), -1)
	if len(targets) < 5 {
		t.Fatalf("found %d targets in the Makefile", len(targets))
	}
	for _, m := range targets {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(m[1]) + `\s+\S`).Match(out) {
			t.Errorf("make help does not list %s:\n%s", m[1], out)
		}
	}
}

// Issue 13 item 7: .ci/run fails at once, naming the missing binary, when a
// server it must start is down and not installed. Before, it ran the
// missing command with `|| true` and waited 90 s for the port.
func TestCIRunFailsAtOnceWhenAServerIsMissing(t *testing.T) {
	// A PATH with the tools the script uses before starting servers, and no
	// server.
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "seq", "sleep", "sed", "cat", "env"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // a port where nothing listens
	cmd := exec.Command(filepath.Join(bin, "bash"), "../.ci/run")
	cmd.Env = []string{"PATH=" + bin, "MICRO_CI_REDIS_PORT=" + port, "HOME=" + t.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf(".ci/run still waits after 10s with redis-server missing:\n%s", stderr.String())
	}
	if err == nil {
		t.Fatal(".ci/run succeeded without a Redis server")
	}
	if !strings.Contains(stderr.String(), "redis-server is not installed") || !strings.Contains(stderr.String(), "apt-get install redis-server") {
		t.Errorf("the failure does not name the missing binary and its package:\n%s", stderr.String())
	}
	t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
}

// Issue 13 item 7: .ci/run runs the README's test command, which the Set up
// section gives with the prerequisites.
func TestCIRunRunsTheREADMETestCommand(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	setup := string(readme)
	if i := strings.Index(setup, "## Set up"); i >= 0 {
		setup = setup[i:]
		if j := strings.Index(setup[3:], "\n## "); j >= 0 {
			setup = setup[:j+3]
		}
	} else {
		t.Fatal("the README has no Set up section")
	}
	m := regexp.MustCompile("Run the tests:\\s*\n\\s*```sh\n([^\n]+)\n").FindStringSubmatch(setup)
	if m == nil {
		t.Fatalf("Set up gives no test command:\n%s", setup)
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `$`).Match(ci) {
		t.Errorf(".ci/run does not run the README's test command %q", m[1])
	}
	for _, want := range []string{"redis-cli", "amqp-publish", "apt-get install", "Go 1."} {
		if !strings.Contains(setup, want) {
			t.Errorf("Set up does not give the prerequisite %q", want)
		}
	}
}
