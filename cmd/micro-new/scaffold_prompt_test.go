package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/generator"
	"github.com/seedmicro/micro/internal/testkit"
)

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
	proc, tty := testkit.StartTerminal(t, cmd, 40, 120)
	out := proc.Out
	waitFor := func(s string, from int) int {
		t.Helper()
		return out.WaitAfter(t, s, from, 30*time.Second)
	}
	at := waitFor("Service name", 0)
	tty.Write([]byte("order-history"))
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = waitFor("Module path", at)
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = waitFor("Which registry?", at)
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = waitFor("Which broker?", at)
	waitFor("rabbitmq", at) // the catalog's plugins are offered
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\x1b[B\x1b[B")) // down twice: past direct and memory
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))
	at = waitFor("Which store?", at)
	time.Sleep(200 * time.Millisecond)
	tty.Write([]byte("\r"))

	if err := proc.Wait(t, 120*time.Second); err != nil {
		t.Fatalf("micro-new service: %v\n%s", err, out.String())
	}

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
