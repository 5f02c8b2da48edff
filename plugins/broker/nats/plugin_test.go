package nats_test

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
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
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

// TestConformanceBridge runs the conformance suite in JetStream mode
// through the plugin bridge within this process, as the plugin binary
// serves the broker.
func TestConformanceBridge(t *testing.T) {
	rawJS(t)
	p := plugin.BrokerFunc(func(ctx context.Context, cfg *micronats.Config) (broker.Broker, error) {
		b, err := micronats.New(ctx, *cfg)
		if err != nil {
			return nil, err
		}
		return b, nil
	})
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		cfg := testConfig(t, micronats.ModeJetStream)
		c, err := plugin.TestClient(t, p, plugin.WithSettings(settings(t, cfg)), plugin.WithLogger(quiet))
		if err != nil {
			t.Fatalf("plugin.TestClient: %v", err)
		}
		return c.Broker()
	})
}

// TestConformancePluginBinary builds cmd/micro-plugin-broker-nats and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) {
	rawJS(t)
	path, sum := plugintest.Build(t, "github.com/seedmicro/micro/plugins/broker/nats/cmd/micro-plugin-broker-nats")
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		cfg := testConfig(t, micronats.ModeJetStream)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		b, err := plugin.OpenBroker(ctx, path,
			plugin.WithSettings(settings(t, cfg)), plugin.WithChecksum(sum), plugin.WithLogger(quiet))
		if err != nil {
			t.Fatalf("plugin.OpenBroker: %v", err)
		}
		return b
	})

	t.Run("bad setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenBroker(ctx, path, plugin.WithSettings([]byte(`{"mode": "jetstream", "strem": "X"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(quiet))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "strem" {
			t.Errorf("OpenBroker with a misspelt setting = %v, want a *plugin.SettingsError naming it", err)
		}
	})
	t.Run("invalid setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenBroker(ctx, path, plugin.WithSettings([]byte(`{"mode": "fast"}`)),
			plugin.WithChecksum(sum), plugin.WithLogger(quiet))
		if err == nil || !containsAll(err.Error(), "Config.Mode", "fast") {
			t.Errorf("OpenBroker with mode fast = %v, want an error naming Config.Mode", err)
		}
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
