package redis_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/store/redis"
)

// suite is the conformance harness of the store, with one key prefix for
// t's components.
func suite(t *testing.T) plugintest.Suite[redis.Config] {
	cfg := redis.Config{Connection: redis.Connection{URL: plugintest.RedisURL()}, Prefix: testPrefix(t)}
	return plugintest.Suite[redis.Config]{
		Kind:    plugin.KindStore,
		Command: "github.com/seedmicro/micro/plugins/store/redis/cmd/micro-plugin-store-redis",
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
// bridge within this process, as the plugin binary serves the store.
func TestConformanceBridge(t *testing.T) { suite(t).Bridge(t) }

// TestConformancePluginBinary builds cmd/micro-plugin-store-redis and runs
// the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) { suite(t).Binary(t) }
