// Package e2e runs what a new user runs: the greeter example service and
// its client, as separate processes on the embedded defaults.
package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/registry/local"
)

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGreeterAcrossProcesses(t *testing.T) {
	bin := t.TempDir()
	service := build(t, bin, "../examples/greeter/service")
	clientBin := build(t, bin, "../examples/greeter/client")
	regDir := t.TempDir()
	env := append(os.Environ(), "MICRO_REGISTRY_DIR="+regDir)

	var logs syncBuffer
	svc := exec.Command(service)
	svc.Env, svc.Stdout, svc.Stderr = env, &logs, &logs
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- svc.Wait() }()
	defer func() {
		if svc.ProcessState == nil {
			svc.Process.Kill()
			<-exited
		}
	}()

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
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "event received") {
		if time.Now().After(deadline) {
			t.Fatalf("the service did not log the event:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// SIGTERM: graceful stop, exit status 0, and the node leaves the registry.
	if err := svc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("service exited with %v after SIGTERM:\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("service did not stop within 15s of SIGTERM")
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
	bin := t.TempDir()
	clientBin := build(t, bin, "../examples/greeter/client")
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
