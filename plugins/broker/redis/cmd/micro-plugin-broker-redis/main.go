// Command micro-plugin-broker-redis serves the Redis Streams broker
// (plugins/broker/redis) as an out-of-process plugin. Its settings are a
// redis.Config in JSON, decoded strictly, for instance
//
//	{"url": "redis://:secret@redis.internal:6379/0", "min_idle": "1m", "max_deliveries": 10}
//
// See the package's README.md for every setting, the delivery guarantee and
// the wire format.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

func main() {
	plugin.Serve(plugin.BrokerFunc(func(ctx context.Context, cfg *redis.Config) (broker.Broker, error) {
		return redis.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
