package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/seedmicro/micro/generator"
)

// ptyOutput collects what the program writes to its terminal.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *ptyOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the terminal shows s after offset, and returns the
// offset after it.
func (o *ptyOutput) waitFor(t *testing.T, s string, from int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := o.String()
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the terminal did not show %q; it shows:\n%s", s, o.String())
	return 0
}

// TestServicePromptsOnATerminal runs micro-new service with no arguments on
// a pseudo-terminal and answers its prompts: the name, the module (the
// default), the registry (the default), a broker from the catalog, the
// store (the default).
func TestServicePromptsOnATerminal(t *testing.T) {
	wd := t.TempDir()
	root, _ := filepath.Abs("../..")
	cmd := exec.Command(binary, "--plugin-dir", filepath.Join(t.TempDir(), "plugins"), "service")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), generator.EnvCore+"="+root, "TERM=xterm-256color", "NO_COLOR=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out ptyOutput
	copied := make(chan struct{})
	go func() { io.Copy(&out, tty); close(copied) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	at := out.waitFor(t, "Service name", 0)
	tty.Write([]byte("order-history"))
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = out.waitFor(t, "Module path", at)
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = out.waitFor(t, "Which registry?", at)
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = out.waitFor(t, "Which broker?", at)
	out.waitFor(t, "rabbitmq", at) // the catalog's plugins are offered
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\x1b[B\x1b[B")) // down twice: past direct and memory
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = out.waitFor(t, "Which store?", at)
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))

	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("micro-new service: %v\n%s", err, out.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("micro-new service did not finish; terminal:\n%s", out.String())
	}
	tty.Close()
	<-copied

	m, err := generator.ReadManifest(filepath.Join(wd, "order-history"))
	if err != nil {
		t.Fatalf("%v; terminal:\n%s", err, out.String())
	}
	a := m.Answers
	if a.Name != "order-history" || a.Module != "example.com/order-history" {
		t.Fatalf("answers %+v, want order-history in example.com/order-history", a)
	}
	b, ok := a.Component("broker")
	if !ok || generator.IsEmbedded("broker", b.Name) {
		t.Fatalf("broker %+v, want a plugin of the catalog", b)
	}
	if _, ok := a.Component("registry"); ok {
		t.Fatalf("a registry was chosen, want the default")
	}
	var cfg map[string]json.RawMessage
	data, _ := os.ReadFile(filepath.Join(wd, "order-history", "micro.json"))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg["broker"] == nil {
		t.Fatalf("micro.json %s (%v): want the broker", data, err)
	}
}

// TestServiceNeverPromptsWithoutATerminal: stdin is not a terminal, so a
// missing NAME is an error that names it, at once.
func TestServiceNeverPromptsWithoutATerminal(t *testing.T) {
	cmd := exec.Command(binary, "service")
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader("greeter\n")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2; output:\n%s", err, out)
	}
	contains(t, "output", string(out), "NAME is missing")
}
