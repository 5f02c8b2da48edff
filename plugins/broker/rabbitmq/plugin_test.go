package rabbitmq_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// suite is the conformance harness of the broker, with one exchange for t's
// components; the queues of their groups are deleted when t ends.
func suite(t *testing.T) plugintest.Suite[rabbitmq.Config] {
	f := newFixture(t)
	cfg := f.config()
	return plugintest.Suite[rabbitmq.Config]{
		Kind:    plugin.KindBroker,
		Command: "github.com/seedmicro/micro/plugins/broker/rabbitmq/cmd/micro-plugin-broker-rabbitmq",
		New: func(ctx context.Context, cfg rabbitmq.Config) (any, error) {
			return rabbitmq.New(ctx, cfg, rabbitmq.WithLogger(testLogger(t)))
		},
		Config: func(*testing.T) rabbitmq.Config { return cfg },
		Logger: func(t testing.TB) *slog.Logger { return testLogger(t) },
		Track: func(_ *testing.T, x any, cfg rabbitmq.Config) any {
			return f.track(x.(broker.Broker), cfg.Exchange)
		},
		Misspelt:      `{"prefetch": 0, "exchnage": "x"}`,
		MisspeltField: "exchnage",
	}
}

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the broker.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-broker-rabbitmq and
// runs the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
