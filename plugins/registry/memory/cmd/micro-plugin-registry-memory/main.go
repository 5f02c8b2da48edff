// Command micro-plugin-registry-memory serves the core's in-process registry
// (core/registry/memory) as an out-of-process plugin. It takes no settings.
//
// Its services live in the plugin process: every host that launches it gets
// a registry of its own, gone when the plugin stops. It is there to try and
// test the plugin machinery (installing, launching, supervising) and to
// measure what the bridge costs, not to connect services.
package main

import (
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry/memory"
)

func main() { plugin.Serve(plugin.Registry(memory.New())) }
