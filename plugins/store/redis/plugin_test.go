package redis_test

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
	"github.com/seedmicro/micro/plugins/store/redis"
)

// settings returns cfg as the JSON settings of the plugin.
func settings(t testing.TB, cfg redis.Config) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var discard = slog.New(slog.DiscardHandler)

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the store.
func TestConformanceBridge(t *testing.T) {
	cfg := redis.Config{Connection: redis.Connection{URL: testURL()}, Prefix: testPrefix(t)}
	p := plugin.StoreFunc(func(ctx context.Context, cfg *redis.Config) (store.Store, error) {
		x, err := redis.New(ctx, *cfg)
		if err != nil {
			return nil, err
		}
		return x, nil
	})
	storetest.Run(t, func(t *testing.T) store.Store {
		c, err := plugin.TestClient(t, p, plugin.WithSettings(settings(t, cfg)), plugin.WithLogger(discard))
		if err != nil {
			t.Fatalf("plugin.TestClient: %v", err)
		}
		x := c.Store()
		t.Cleanup(func() { x.Close() })
		return x
	})
}

const pluginPackage = "github.com/seedmicro/micro/plugins/store/redis/cmd/micro-plugin-store-redis"

// TestConformancePluginBinary builds cmd/micro-plugin-store-redis and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) {
	path, sum := plugintest.Build(t, pluginPackage)
	cfg := redis.Config{Connection: redis.Connection{URL: testURL()}, Prefix: testPrefix(t)}
	storetest.Run(t, func(t *testing.T) store.Store {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		x, err := plugin.OpenStore(ctx, path,
			plugin.WithSettings(settings(t, cfg)), plugin.WithChecksum(sum), plugin.WithLogger(discard))
		if err != nil {
			t.Fatalf("plugin.OpenStore: %v", err)
		}
		t.Cleanup(func() { x.Close() })
		return x
	})

	t.Run("bad setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenStore(ctx, path, plugin.WithSettings([]byte(`{"url": "redis://127.0.0.1:6379/0", "prefx": "x:"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(discard))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "prefx" {
			t.Errorf("OpenStore with a misspelt setting = %v, want a *plugin.SettingsError naming it", err)
		}
	})
	t.Run("invalid setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenStore(ctx, path, plugin.WithSettings([]byte(`{"url": "http://example.com"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(discard))
		if err == nil || !strings.Contains(err.Error(), "Config.URL") {
			t.Errorf("OpenStore with an http URL = %v, want an error naming Config.URL", err)
		}
	})
}
