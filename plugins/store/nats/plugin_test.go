package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/core/store/storetest"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

// settings returns cfg as the JSON settings of the plugin.
func settings(t *testing.T, cfg micronats.Config) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var quiet = slog.New(slog.DiscardHandler)

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the store.
func TestConformanceBridge(t *testing.T) {
	cfg := micronats.Config{Connection: micronats.Connection{URL: serverURL()}, Bucket: testBucket(t), Storage: "memory"}
	p := plugin.StoreFunc(func(ctx context.Context, cfg *micronats.Config) (store.Store, error) {
		x, err := micronats.New(ctx, *cfg)
		if err != nil {
			return nil, err
		}
		return x, nil
	})
	storetest.Run(t, func(t *testing.T) store.Store {
		c, err := plugin.TestClient(t, p, plugin.WithSettings(settings(t, cfg)), plugin.WithLogger(quiet))
		if err != nil {
			t.Fatalf("plugin.TestClient: %v", err)
		}
		x := c.Store()
		t.Cleanup(func() { x.Close() })
		return x
	})
}

// TestConformancePluginBinary builds cmd/micro-plugin-store-nats and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) {
	cfg := micronats.Config{Connection: micronats.Connection{URL: serverURL()}, Bucket: testBucket(t), Storage: "memory"}
	path, sum := plugintest.Build(t, "github.com/seedmicro/micro/plugins/store/nats/cmd/micro-plugin-store-nats")
	storetest.Run(t, func(t *testing.T) store.Store {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		x, err := plugin.OpenStore(ctx, path,
			plugin.WithSettings(settings(t, cfg)), plugin.WithChecksum(sum), plugin.WithLogger(quiet))
		if err != nil {
			t.Fatalf("plugin.OpenStore: %v", err)
		}
		t.Cleanup(func() { x.Close() })
		return x
	})

	t.Run("bad setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenStore(ctx, path, plugin.WithSettings([]byte(`{"bucket": "b", "sweep_intervall": "1m"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(quiet))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "sweep_intervall" {
			t.Errorf("OpenStore with a misspelt setting = %v, want a *plugin.SettingsError naming it", err)
		}
	})
	t.Run("invalid setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenStore(ctx, path, plugin.WithSettings([]byte(`{"storage": "disk"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(quiet))
		if err == nil || !strings.Contains(err.Error(), "Config.Storage") {
			t.Errorf("OpenStore with storage disk = %v, want an error naming Config.Storage", err)
		}
	})
}
