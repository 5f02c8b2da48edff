package nats_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	micronats "github.com/seedmicro/micro/plugins/registry/nats"
)

// suite is the conformance harness of the registry, with one bucket for t's
// components.
func suite(t *testing.T) plugintest.Suite[micronats.Config] {
	cfg := micronats.Config{Connection: micronats.Connection{URL: plugintest.NATSURL()}, KV: micronats.KV{Bucket: testBucket(t), Storage: "memory"}}
	return plugintest.Suite[micronats.Config]{
		Kind:    plugin.KindRegistry,
		Command: "github.com/seedmicro/micro/plugins/registry/nats/cmd/micro-plugin-registry-nats",
		New: func(ctx context.Context, cfg micronats.Config) (any, error) {
			return micronats.New(ctx, cfg)
		},
		Config:        func(*testing.T) micronats.Config { return cfg },
		Misspelt:      `{"bucket": "b", "buckt": "x"}`,
		MisspeltField: "buckt",
		Invalid:       `{"storage": "disk"}`,
		InvalidWants:  []string{"Config.Storage"},
	}
}

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the registry.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-registry-nats and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
