// Command micro-plugin-registry-nats serves the NATS key-value registry
// (plugins/registry/nats) as an out-of-process plugin. Its settings are a
// nats.Config in JSON, decoded strictly, for instance
//
//	{"url": "nats://nats.internal:4222", "bucket": "micro_registry"}
//
// See the package's README.md for every setting and the format of the
// bucket.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/registry/nats"
)

func main() {
	plugin.Serve(plugin.RegistryFunc(func(ctx context.Context, cfg *nats.Config) (registry.Registry, error) {
		return nats.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
