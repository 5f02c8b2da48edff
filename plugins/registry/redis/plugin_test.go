package redis_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/registry/redis"
)

// suite is the conformance harness of the registry, with one key prefix for
// t's components.
func suite(t *testing.T) plugintest.Suite[redis.Config] {
	cfg := redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(t)}
	return plugintest.Suite[redis.Config]{
		Kind:    plugin.KindRegistry,
		Command: "github.com/seedmicro/micro/plugins/registry/redis/cmd/micro-plugin-registry-redis",
		New: func(ctx context.Context, cfg redis.Config) (any, error) {
			return redis.New(ctx, cfg)
		},
		Config:        func(*testing.T) redis.Config { return cfg },
		Misspelt:      `{"url": "redis://127.0.0.1:6379/0", "prefx": "x:"}`,
		MisspeltField: "prefx",
		Invalid:       `{"url": "http://example.com"}`,
		InvalidWants:  []string{"Config.URL"},
	}
}

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the registry.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-registry-redis and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
