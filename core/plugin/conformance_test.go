package plugin_test

import (
	"testing"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/registrytest"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/core/store/storetest"
)

// The conformance suites of the core run against the memory
// implementations through the bridge, in process and from a child process,
// with a new plugin for every subtest.

func TestRegistryConformance(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			registrytest.Run(t, func(t *testing.T) registry.Registry {
				return mode.open(t, plugin.KindRegistry, "registry").Registry()
			})
		})
	}
}

func TestBrokerConformance(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			brokertest.Run(t, func(t *testing.T) broker.Broker {
				return mode.open(t, plugin.KindBroker, "broker").Broker()
			})
		})
	}
}

func TestStoreConformance(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				return mode.open(t, plugin.KindStore, "store").Store()
			})
		})
	}
}
