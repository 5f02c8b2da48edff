package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/redis"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
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
// bridge within this process, as the plugin binary serves the broker.
func TestConformanceBridge(t *testing.T) {
	cfg := fastConfig(testPrefix(t))
	p := plugin.BrokerFunc(func(ctx context.Context, cfg *redis.Config) (broker.Broker, error) {
		b, err := redis.New(ctx, *cfg, redis.WithLogger(quietLogger()))
		if err != nil {
			return nil, err
		}
		return b, nil
	})
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		c, err := plugin.TestClient(t, p, plugin.WithSettings(settings(t, cfg)), plugin.WithLogger(discard))
		if err != nil {
			t.Fatalf("plugin.TestClient: %v", err)
		}
		return c.Broker()
	})
}

const pluginPackage = "github.com/seedmicro/micro/plugins/broker/redis/cmd/micro-plugin-broker-redis"

// TestConformancePluginBinary builds cmd/micro-plugin-broker-redis and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) {
	path, sum := plugintest.Build(t, pluginPackage)
	cfg := fastConfig(testPrefix(t))
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		b, err := plugin.OpenBroker(ctx, path,
			plugin.WithSettings(settings(t, cfg)), plugin.WithChecksum(sum), plugin.WithLogger(discard))
		if err != nil {
			t.Fatalf("plugin.OpenBroker: %v", err)
		}
		return b
	})

	t.Run("bad setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenBroker(ctx, path, plugin.WithSettings([]byte(`{"url": "redis://127.0.0.1:6379/0", "min_idel": "1s"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(discard))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "min_idel" {
			t.Errorf("OpenBroker with a misspelt setting = %v, want a *plugin.SettingsError naming it", err)
		}
	})
	t.Run("invalid setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenBroker(ctx, path, plugin.WithSettings([]byte(`{"prefetch": -1}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(discard))
		if err == nil || !strings.Contains(err.Error(), "Config.Prefetch") {
			t.Errorf("OpenBroker with prefetch -1 = %v, want an error naming Config.Prefetch", err)
		}
	})
}
