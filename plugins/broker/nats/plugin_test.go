package nats_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// suite is the conformance harness of the broker in JetStream mode: each
// component has a stream of its own.
func suite(t *testing.T) plugintest.Suite[micronats.Config] {
	rawJS(t)
	return plugintest.Suite[micronats.Config]{
		Kind:    plugin.KindBroker,
		Command: "github.com/seedmicro/micro/plugins/broker/nats/cmd/micro-plugin-broker-nats",
		New: func(ctx context.Context, cfg micronats.Config) (any, error) {
			return micronats.New(ctx, cfg)
		},
		Config:        func(t *testing.T) micronats.Config { return testConfig(t, micronats.ModeJetStream) },
		Misspelt:      `{"mode": "jetstream", "strem": "X"}`,
		MisspeltField: "strem",
		Invalid:       `{"mode": "fast"}`,
		InvalidWants:  []string{"Config.Mode", "fast"},
	}
}

// TestConformanceBridge runs the conformance suite in JetStream mode
// through the plugin bridge within this process, as the plugin binary
// serves the broker.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-broker-nats and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
