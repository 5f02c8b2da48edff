// Command brokermemory is a real out-of-process plugin for the tests of
// micro-new: the core's memory broker served through core/plugin. It stands
// in for plugins/broker/memory/cmd/micro-plugin-broker-memory where that does
// not exist yet.
package main

import (
	"github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
)

func main() { plugin.Serve(plugin.Broker(memory.New())) }
