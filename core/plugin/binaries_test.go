package plugin_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// TestMemoryPluginBinaries builds the plugin binaries of the memory
// implementations (plugins/<kind>/memory/cmd/...) and uses each once, with
// its checksum pinned.
func TestMemoryPluginBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	pkgs := []string{
		"github.com/seedmicro/micro/plugins/broker/memory/cmd/micro-plugin-broker-memory",
		"github.com/seedmicro/micro/plugins/registry/memory/cmd/micro-plugin-registry-memory",
		"github.com/seedmicro/micro/plugins/store/memory/cmd/micro-plugin-store-memory",
	}
	build := exec.Command(gobin, append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	open := func(t *testing.T, kind plugin.Kind) *plugin.Client {
		t.Helper()
		path := filepath.Join(dir, "micro-plugin-"+string(kind)+"-memory")
		bin, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(bin)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		c, err := plugin.Open(ctx, path, kind, plugin.WithChecksum(sum[:]), plugin.WithLogger(quiet))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if want := string(kind) + "/memory"; c.Name() != want {
			t.Errorf("Name() = %q, want %q", c.Name(), want)
		}
		return c
	}

	t.Run("broker", func(t *testing.T) {
		b := open(t, plugin.KindBroker).Broker()
		got := make(chan *broker.Message, 1)
		if _, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *broker.Message) error {
			got <- m
			return nil
		}); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte("hello")}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		select {
		case m := <-got:
			if string(m.Body) != "hello" {
				t.Errorf("body = %q", m.Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
		if err := b.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.Publish(t.Context(), "t", &broker.Message{}); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Publish after Close = %v, want broker.ErrClosed", err)
		}
	})
	t.Run("registry", func(t *testing.T) {
		r := open(t, plugin.KindRegistry).Registry()
		svc := &registry.Service{Name: "greeter", Nodes: []*registry.Node{{ID: "a", Address: "127.0.0.1:1"}}}
		if err := r.Register(t.Context(), svc, 0); err != nil {
			t.Fatalf("Register: %v", err)
		}
		if got, err := r.Lookup(t.Context(), "greeter"); err != nil || len(got) != 1 {
			t.Fatalf("Lookup = %v, %v", got, err)
		}
		if _, err := r.Lookup(t.Context(), "nobody"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Lookup(nobody) = %v, want registry.ErrNotFound", err)
		}
	})
	t.Run("store", func(t *testing.T) {
		s := open(t, plugin.KindStore).Store()
		if err := s.Write(t.Context(), &store.Record{Key: "k", Value: []byte("v")}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if rec, err := s.Read(t.Context(), "k"); err != nil || string(rec.Value) != "v" {
			t.Fatalf("Read = %v, %v", rec, err)
		}
	})
	t.Run("settings", func(t *testing.T) {
		path := filepath.Join(dir, "micro-plugin-store-memory")
		_, err := plugin.Open(t.Context(), path, plugin.KindStore,
			plugin.WithSettings([]byte(`{"size": 1}`)), plugin.WithLogger(quiet))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "size" || !strings.Contains(err.Error(), "store/memory") {
			t.Errorf("Open with a setting = %v, want a *SettingsError for field size of store/memory", err)
		}
	})
}
