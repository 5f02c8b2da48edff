package plugin_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
)

func TestBinaryName(t *testing.T) {
	tests := []struct {
		name, want, err string
	}{
		{"broker/rabbitmq", "micro-plugin-broker-rabbitmq", ""},
		{"store/redis-cluster", "micro-plugin-store-redis-cluster", ""},
		{"registry/nats2", "micro-plugin-registry-nats2", ""},
		{"rabbitmq", "", "want <kind>/<name>"},
		{"selector/x", "", "of kind broker, registry or store"},
		{"broker/../x", "", "invalid plugin name"},
		{"broker/Rabbit", "", "invalid plugin name"},
		{"broker/", "", "invalid plugin name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plugin.BinaryName(tt.name)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("BinaryName = %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if runtime.GOOS == "windows" {
				tt.want += ".exe"
			}
			if err != nil || got != tt.want {
				t.Fatalf("BinaryName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fallback differs by platform")
	}
	tests := []struct {
		name              string
		dir, xdg, home    string
		want, errContains string
	}{
		{name: "env", dir: "/srv/plugins", xdg: "/x", home: "/h", want: "/srv/plugins"},
		{name: "xdg", xdg: "/x", home: "/h", want: "/x/micro/plugins"},
		{name: "relative xdg ignored", xdg: "x", home: "/h", want: "/h/.local/share/micro/plugins"},
		{name: "home", home: "/h", want: "/h/.local/share/micro/plugins"},
		{name: "nothing", errContains: "set MICRO_PLUGIN_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(plugin.EnvPluginDir, tt.dir)
			t.Setenv("XDG_DATA_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			got, err := plugin.DefaultDir()
			if tt.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("DefaultDir = %q, %v; want an error containing %q", got, err, tt.errContains)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DefaultDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestManager(t *testing.T) {
	dir := t.TempDir()
	copySelf(t, dir, "micro-plugin-store-test", 0o755)
	copySelf(t, dir, "micro-plugin-broker-test", 0o755)
	sum := selfSum(t)
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var asked []string
	m := plugin.NewManager(dir, plugin.WithLogger(quiet), plugin.WithChecksumFunc(func(_ context.Context, name string) ([]byte, error) {
		asked = append(asked, name)
		if name == "broker/test" {
			return nil, errors.New("broker/test is not in the lock")
		}
		return sum, nil
	}))
	defer m.Close()
	if m.Dir() != dir {
		t.Errorf("Dir = %q, want %q", m.Dir(), dir)
	}
	if p, err := m.Path("store/test"); err != nil || p != filepath.Join(dir, "micro-plugin-store-test") {
		t.Errorf("Path = %q, %v", p, err)
	}

	t.Setenv(envServe, "store")
	c, err := m.Open(t.Context(), "store/test")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Name() != "store/test" || c.Kind() != plugin.KindStore {
		t.Errorf("Name, Kind = %q, %q", c.Name(), c.Kind())
	}
	if _, err := c.Store().List(t.Context(), ""); err != nil {
		t.Errorf("List: %v", err)
	}

	t.Run("checksum lookup fails", func(t *testing.T) {
		_, err := m.Open(t.Context(), "broker/test")
		if err == nil || !strings.Contains(err.Error(), "not in the lock") {
			t.Errorf("Open = %v, want the lookup's error", err)
		}
	})
	t.Run("not installed", func(t *testing.T) {
		_, err := m.Open(t.Context(), "store/none")
		if !errors.Is(err, plugin.ErrNotInstalled) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open = %v, want an error matching ErrNotInstalled and fs.ErrNotExist", err)
		}
		if err != nil && !strings.Contains(err.Error(), "plugin store/none is not installed") {
			t.Errorf("Open = %q, want it to say the plugin is not installed", err)
		}
	})
	t.Run("invalid name", func(t *testing.T) {
		if _, err := m.Open(t.Context(), "../store"); err == nil {
			t.Error("Open of an invalid name succeeded")
		}
	})
	t.Run("no checksum", func(t *testing.T) {
		m := plugin.NewManager(dir, plugin.WithLogger(quiet))
		_, err := m.Open(t.Context(), "store/test")
		if err == nil || !strings.Contains(err.Error(), "no checksum") {
			t.Errorf("Open without a checksum = %v, want a refusal", err)
		}
	})
	if strings.Join(asked, ",") != "store/test,broker/test" {
		t.Errorf("checksums asked for %v", asked)
	}

	// Close closes what the Manager opened.
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := c.Store().List(t.Context(), ""); !errors.Is(err, plugin.ErrClosed) {
		t.Errorf("List after Manager.Close = %v, want ErrClosed", err)
	}
	if _, err := m.Open(t.Context(), "store/test"); err == nil {
		t.Error("Open after Close succeeded")
	}
}
