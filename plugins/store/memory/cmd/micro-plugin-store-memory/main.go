// Command micro-plugin-store-memory serves the core's in-process store
// (core/store/memory) as an out-of-process plugin. It takes no settings.
//
// Its records live in the plugin process: every host that launches it gets
// a store of its own, gone when the plugin stops. It is there to try and
// test the plugin machinery (installing, launching, supervising) and to
// measure what the bridge costs, not to share data between services.
package main

import (
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store/memory"
)

func main() { plugin.Serve(plugin.Store(memory.New())) }
