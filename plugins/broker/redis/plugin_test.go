package redis_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/redis"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// suite is the conformance harness of the broker, with one stream prefix
// for t's components.
func suite(t *testing.T) plugintest.Suite[redis.Config] {
	cfg := fastConfig(testPrefix(t))
	return plugintest.Suite[redis.Config]{
		Kind:    plugin.KindBroker,
		Command: "github.com/seedmicro/micro/plugins/broker/redis/cmd/micro-plugin-broker-redis",
		New: func(ctx context.Context, cfg redis.Config) (any, error) {
			return redis.New(ctx, cfg, redis.WithLogger(quietLogger()))
		},
		Config:        func(*testing.T) redis.Config { return cfg },
		Misspelt:      `{"url": "redis://127.0.0.1:6379/0", "min_idel": "1s"}`,
		MisspeltField: "min_idel",
		Invalid:       `{"prefetch": -1}`,
		InvalidWants:  []string{"Config.Prefetch"},
	}
}

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the broker.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-broker-redis and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
