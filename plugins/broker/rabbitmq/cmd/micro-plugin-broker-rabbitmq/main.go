// Command micro-plugin-broker-rabbitmq serves the RabbitMQ broker
// (plugins/broker/rabbitmq) as an out-of-process plugin. Its settings are a
// rabbitmq.Config in JSON, decoded strictly, for instance
//
//	{"url": "amqp://app:secret@rabbit.internal:5672/", "exchange": "micro", "prefetch": 32}
//
// See the package's README.md for every setting, the delivery guarantee and
// the wire format.
package main

import (
	"context"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

func main() {
	plugin.Serve(plugin.BrokerFunc(func(ctx context.Context, cfg *rabbitmq.Config) (broker.Broker, error) {
		return rabbitmq.New(ctx, *cfg) // with an error, its nil value is not used
	}))
}
