// Package e2e runs what a new user runs: the greeter example service and
// its client, as separate processes on the embedded defaults.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

func TestGreeterAcrossProcesses(t *testing.T) {
	service := testkit.Binary(t, "../examples/greeter/service")
	clientBin := testkit.Binary(t, "../examples/greeter/client")
	regDir := t.TempDir()
	env := append(os.Environ(), "MICRO_REGISTRY_DIR="+regDir)

	svc := exec.Command(service)
	svc.Env = env
	proc := testkit.Start(t, svc)
	logs := proc.Out

	cl := exec.Command(clientBin, "-name", "e2e")
	cl.Env = env
	out, err := cl.CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s\nservice log:\n%s", err, out, logs.String())
	}
	if !strings.Contains(string(out), "Hello, e2e!") {
		t.Fatalf("client output %q lacks the greeting", out)
	}

	// The event reaches the service's subscriber.
	proc.WaitFor(t, "event received", 10*time.Second)

	// SIGTERM: graceful stop, exit status 0, and the node leaves the registry.
	if err := proc.Stop(t, syscall.SIGTERM, 15*time.Second); err != nil {
		t.Fatalf("service exited with %v after SIGTERM:\n%s", err, logs.String())
	}
	reg, err := local.New(local.WithDir(regDir))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if svcs, err := reg.Lookup(context.Background(), "greeter"); err == nil {
		t.Fatalf("greeter still registered after a graceful stop: %+v", svcs[0].Nodes)
	}
}

func TestClientExplainsWhenServiceIsMissing(t *testing.T) {
	clientBin := testkit.Binary(t, "../examples/greeter/client")
	cl := exec.Command(clientBin, "-wait", "300ms")
	cl.Env = append(os.Environ(), "MICRO_REGISTRY_DIR="+t.TempDir())
	out, err := cl.CombinedOutput()
	if err == nil {
		t.Fatalf("client succeeded with no service running: %s", out)
	}
	if !strings.Contains(string(out), "is it running?") {
		t.Fatalf("client error %q does not say what is wrong", out)
	}
}
