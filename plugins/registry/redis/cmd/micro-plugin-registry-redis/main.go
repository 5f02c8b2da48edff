// Command micro-plugin-registry-redis serves the Redis registry
// (plugins/registry/redis) as an out-of-process plugin. Its settings are a
// redis.Config in JSON, decoded strictly, for instance
//
//	{"url": "redis://:secret@redis.internal:6379/0", "sweep_interval": "2s"}
//
// See the package's README.md for every setting, the semantics and the
// layout of the keys.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/registry/redis"
)

func main() {
	plugin.Serve(plugin.RegistryFunc(func(ctx context.Context, cfg *redis.Config) (registry.Registry, error) {
		return redis.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
