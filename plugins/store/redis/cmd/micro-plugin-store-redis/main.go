// Command micro-plugin-store-redis serves the Redis store
// (plugins/store/redis) as an out-of-process plugin. Its settings are a
// redis.Config in JSON, decoded strictly, for instance
//
//	{"url": "redis://:secret@redis.internal:6379/1", "prefix": "sessions:"}
//
// See the package's README.md for every setting, the guarantees and the
// layout of the keys.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/store/redis"
)

func main() {
	plugin.Serve(plugin.StoreFunc(func(ctx context.Context, cfg *redis.Config) (store.Store, error) {
		return redis.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
