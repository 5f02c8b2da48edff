// Command micro-plugin-broker-memory serves the core's in-process broker
// (core/broker/memory) as an out-of-process plugin. It takes no settings.
//
// Its messages live in the plugin process: every host that launches it gets
// a broker of its own, gone when the plugin stops. It is there to try and
// test the plugin machinery (installing, launching, supervising) and to
// measure what the bridge costs, not to connect services.
package main

import (
	"github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
)

func main() { plugin.Serve(plugin.Broker(memory.New())) }
