package nats_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

// suite is the conformance harness of the store, with one bucket for t's
// components.
func suite(t *testing.T) plugintest.Suite[micronats.Config] {
	cfg := micronats.Config{Connection: micronats.Connection{URL: plugintest.NATSURL()}, KV: micronats.KV{Bucket: testBucket(t), Storage: "memory"}}
	return plugintest.Suite[micronats.Config]{
		Kind:    plugin.KindStore,
		Command: "github.com/seedmicro/micro/plugins/store/nats/cmd/micro-plugin-store-nats",
		New: func(ctx context.Context, cfg micronats.Config) (any, error) {
			return micronats.New(ctx, cfg)
		},
		Config:        func(*testing.T) micronats.Config { return cfg },
		Misspelt:      `{"bucket": "b", "sweep_intervall": "1m"}`,
		MisspeltField: "sweep_intervall",
		Invalid:       `{"storage": "disk"}`,
		InvalidWants:  []string{"Config.Storage"},
	}
}

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the store.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-store-nats and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
