// Package inproc compiles the module's plugins that run on servers (Redis,
// RabbitMQ, NATS) into a test, as factories for resolve, as a service that
// imports the plugin packages does. The end-to-end and shutdown tests use
// it to be such a service, or its client.
package inproc

import (
	"context"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
	natsbroker "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
	redisbroker "github.com/seedmicro/micro/plugins/broker/redis"
	natsregistry "github.com/seedmicro/micro/plugins/registry/nats"
	redisregistry "github.com/seedmicro/micro/plugins/registry/redis"
	natsstore "github.com/seedmicro/micro/plugins/store/nats"
	redisstore "github.com/seedmicro/micro/plugins/store/redis"
	"github.com/seedmicro/micro/resolve"
)

// Factories returns factories of the broker, registry and store plugins
// for Redis, RabbitMQ and NATS, which decode their settings as the
// plugins' binaries do.
func Factories() *resolve.Factories {
	f := resolve.NewFactories()
	f.RegisterBroker("redis", resolve.BrokerFunc(func(ctx context.Context, cfg *redisbroker.Config) (broker.Broker, error) {
		return redisbroker.New(ctx, *cfg)
	}))
	f.RegisterBroker("rabbitmq", resolve.BrokerFunc(func(ctx context.Context, cfg *rabbitmq.Config) (broker.Broker, error) {
		return rabbitmq.New(ctx, *cfg)
	}))
	f.RegisterBroker("nats", resolve.BrokerFunc(func(ctx context.Context, cfg *natsbroker.Config) (broker.Broker, error) {
		return natsbroker.New(ctx, *cfg)
	}))
	f.RegisterRegistry("redis", resolve.RegistryFunc(func(ctx context.Context, cfg *redisregistry.Config) (registry.Registry, error) {
		return redisregistry.New(ctx, *cfg)
	}))
	f.RegisterRegistry("nats", resolve.RegistryFunc(func(ctx context.Context, cfg *natsregistry.Config) (registry.Registry, error) {
		return natsregistry.New(ctx, *cfg)
	}))
	f.RegisterStore("redis", resolve.StoreFunc(func(ctx context.Context, cfg *redisstore.Config) (store.Store, error) {
		return redisstore.New(ctx, *cfg)
	}))
	f.RegisterStore("nats", resolve.StoreFunc(func(ctx context.Context, cfg *natsstore.Config) (store.Store, error) {
		return natsstore.New(ctx, *cfg)
	}))
	return f
}
