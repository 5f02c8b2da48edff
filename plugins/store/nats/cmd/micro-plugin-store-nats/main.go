// Command micro-plugin-store-nats serves the NATS key-value store
// (plugins/store/nats) as an out-of-process plugin. Its settings are a
// nats.Config in JSON, decoded strictly, for instance
//
//	{"url": "nats://nats.internal:4222", "bucket": "micro_store", "sweep_interval": "5m"}
//
// See the package's README.md for every setting and the format of the
// bucket.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/store/nats"
)

func main() {
	plugin.Serve(plugin.StoreFunc(func(ctx context.Context, cfg *nats.Config) (store.Store, error) {
		return nats.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
