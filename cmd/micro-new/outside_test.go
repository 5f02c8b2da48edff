package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/install"
	"github.com/seedmicro/micro/internal/testkit"
)

// Issue 13 item 1, what the newcomer did: micro-new built from the checkout
// as `make install` builds it, run from a directory outside the checkout with
// a clean HOME, installs broker/redis, and a service started with
// MICRO_BROKER=redis and nothing else about the plugin uses it. Before,
// micro-new outside a checkout could not build micro's plugins ("runs
// outside a checkout of it and is not a released build", or the module
// proxy's 403 for a go-install'ed one).
func TestMicroNewOutsideTheCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Redis plugin")
	}
	root := install.FindSourceDir(context.Background(), "go", ".")
	if root == "" {
		t.Fatal("the test runs inside the micro checkout")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 2*time.Second); err != nil {
		t.Fatalf("this test needs Redis on 127.0.0.1:6379: start it with `redis-server --daemonize yes` (Debian: apt-get install redis-server): %v", err)
	} else {
		c.Close()
	}
	bin := t.TempDir()
	goEnv := func(k string) string {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	// The Go caches of the machine, so that the build takes seconds, not
	// minutes; nothing else of the user's environment.
	caches := []string{"GOCACHE=" + goEnv("GOCACHE"), "GOMODCACHE=" + goEnv("GOMODCACHE"), "GOPATH=" + goEnv("GOPATH"), "GOPROXY=" + goEnv("GOPROXY"), "GOFLAGS=" + goEnv("GOFLAGS")}
	// make install, into a directory of the test's.
	mk := exec.Command("make", "-s", "install")
	mk.Dir = root
	mk.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s (install make: apt-get install make)", err, out)
	}
	for _, pkg := range []string{"examples/greeter/service", "examples/greeter/client"} {
		testkit.Build(t, filepath.Join(bin, "greeter-"+filepath.Base(pkg)), filepath.Join(root, pkg))
	}

	home := t.TempDir()
	outside := t.TempDir()
	env := append([]string{"HOME=" + home, "PATH=" + bin + ":" + os.Getenv("PATH")}, caches...)
	cmd := exec.Command(filepath.Join(bin, "micro-new"), "install", "broker/redis")
	cmd.Dir, cmd.Env = outside, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("micro-new install broker/redis outside the checkout: %v\n%s", err, out)
	}
	pluginDir := filepath.Join(home, ".local", "share", "micro", "plugins")
	if !strings.Contains(string(out), "installed broker/redis") || !strings.Contains(string(out), pluginDir) {
		t.Fatalf("install output:\n%s", out)
	}

	// The service: MICRO_BROKER=redis, and a registry directory of its own.
	svcEnv := append(env, "MICRO_BROKER=redis", "MICRO_REGISTRY_DIR="+t.TempDir())
	svc := exec.Command(filepath.Join(bin, "greeter-service"))
	svc.Dir, svc.Env = outside, svcEnv
	proc := testkit.Start(t, svc)
	logs := proc.Out
	client := exec.Command(filepath.Join(bin, "greeter-client"), "-name", "newcomer")
	client.Dir, client.Env = outside, svcEnv
	if out, err := client.CombinedOutput(); err != nil || !strings.Contains(string(out), "Hello, newcomer") {
		t.Fatalf("client: %v\n%s\nservice:\n%s", err, out, logs.String())
	}
	proc.WaitFor(t, "event received", 15*time.Second)
	if len(testkit.ProcessesIn(t, pluginDir)) == 0 {
		t.Fatalf("no plugin process runs from %s: the service did not use the installed plugin\n%s", pluginDir, logs.String())
	}
	proc.Stop(t, syscall.SIGTERM, 20*time.Second)
}
