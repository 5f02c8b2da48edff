// Command micro-plugin-broker-nats serves the NATS broker (plugins/broker/nats)
// as an out-of-process plugin. Its settings are a nats.Config in JSON,
// decoded strictly, for instance
//
//	{"url": "nats://nats.internal:4222", "mode": "jetstream", "stream": "MICRO", "ack_wait": "30s"}
//
// See the package's README.md for every setting, the delivery guarantee and
// the wire format.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/nats"
)

func main() {
	plugin.Serve(plugin.BrokerFunc(func(ctx context.Context, cfg *nats.Config) (broker.Broker, error) {
		return nats.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
