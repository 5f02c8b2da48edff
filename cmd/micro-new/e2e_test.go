package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/install"
)

// A real plugin, end to end: installed by micro-new into an empty plugin
// directory, launched by the plugin host with the checksum the lock pins and
// used; then one byte flipped: verify fails, and the host refuses to launch
// it, starting nothing.
func TestRealPluginEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real plugin")
	}
	ctx := context.Background()
	root := install.FindSourceDir(ctx, "go", ".")
	if root == "" {
		t.Fatal("the test runs inside the micro checkout")
	}
	c := newCLI(t)
	c.vars[envSourceDir] = root
	out := c.ok("install", "broker/memory") // from this checkout: plugins/broker/memory/cmd/...
	contains(t, "install", out, "installed broker/memory 0.1.0")
	c.ok("verify")

	bin := filepath.Join(c.pluginDir, pluginlock.BinaryName("broker/memory"))
	lock, err := pluginlock.ReadDir(c.pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := lock.Checksum("broker/memory")
	if err != nil {
		t.Fatal(err)
	}
	client, err := plugin.Open(ctx, bin, plugin.KindBroker, plugin.WithChecksum(sum), plugin.WithName("broker/memory"))
	if err != nil {
		t.Fatalf("the host refused the installed plugin: %v", err)
	}
	b := client.Broker()
	got := make(chan string, 1)
	sub, err := b.Subscribe(ctx, "greetings", func(_ context.Context, m *broker.Message) error {
		got <- string(m.Body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "greetings", &broker.Message{Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Errorf("got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message through the plugin")
	}
	sub.Unsubscribe(ctx)
	if err := client.Close(); err != nil {
		t.Errorf("close: %v", err)
	}

	flipByte(t, bin)
	errs := c.fail("verify")
	contains(t, "verify of a tampered plugin", errs, "plugin broker/memory", "the binary changed after it was installed", "micro-new install broker/memory")
	_, err = plugin.Open(ctx, bin, plugin.KindBroker, plugin.WithChecksum(sum), plugin.WithName("broker/memory"))
	if !errors.Is(err, plugin.ErrChecksumMismatch) {
		t.Fatalf("the host launched a tampered plugin: %v", err)
	}
	if !strings.Contains(err.Error(), "broker/memory") {
		t.Errorf("the refusal does not name the plugin: %v", err)
	}
	var mm *pluginlock.MismatchError
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pluginlock.Verify("broker/memory", f, sum); !errors.As(err, &mm) || !strings.Contains(err.Error(), "micro-new install broker/memory") {
		t.Errorf("pluginlock.Verify: %v", err)
	}
}
