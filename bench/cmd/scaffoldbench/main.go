// Command scaffoldbench measures how long micro-new takes to scaffold a
// service with three plugins (registry, broker and store, in process):
// loading the template set, planning, rendering, pruning and formatting the
// Go files, and writing the project through its temporary directory. It
// does not run go mod tidy or go build. It prints the median of -n runs:
//
//	figure scaffold_service_ms <milliseconds>
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/seedmicro/micro/generator"
	"github.com/seedmicro/micro/templates"
)

func main() {
	n := flag.Int("n", 30, "number of scaffolds to measure")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "scaffoldbench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	tmp, err := os.MkdirTemp("", "scaffoldbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	a := generator.Answers{
		Name: "greeter", Module: "example.com/greeter", ImportPath: "example.com/greeter",
		Plugins: generator.ModeInProcess, CoreVersion: generator.DevelVersion, CoreReplace: "/src/micro", GoVersion: "1.26",
		Components: []generator.Component{
			{Kind: "registry", Name: "redis", Package: generator.CoreModule + "/plugins/registry/redis", Address: "redis://127.0.0.1:6379/0"},
			{Kind: "broker", Name: "rabbitmq", Package: generator.CoreModule + "/plugins/broker/rabbitmq", Address: "amqp://guest:guest@127.0.0.1:5672/"},
			{Kind: "store", Name: "redis", Package: generator.CoreModule + "/plugins/store/redis", Address: "redis://127.0.0.1:6379/0"},
		},
	}
	var times []time.Duration
	var cpu time.Duration
	for i := range n + 1 {
		start := time.Now()
		cpu0 := cpuTime()
		fsys, err := templates.Set("service")
		if err != nil {
			return err
		}
		set, err := generator.LoadSet(fsys)
		if err != nil {
			return err
		}
		plan, err := generator.PlanService(generator.ServiceRequest{
			Set: set, Answers: a, Dir: filepath.Join(tmp, fmt.Sprint("p", i)),
			Generator: "bench", Template: "builtin:service",
		})
		if err != nil {
			return err
		}
		if err := plan.Write(); err != nil {
			return err
		}
		if i > 0 { // the first run warms up
			times = append(times, time.Since(start))
			cpu += cpuTime() - cpu0
		}
		if i%10 == 0 {
			fmt.Fprintf(os.Stderr, "scaffoldbench: %d/%d\n", i, n)
		}
	}
	slices.Sort(times)
	med := times[len(times)/2]
	fmt.Printf("figure scaffold_service_ms %.2f\n", float64(med.Microseconds())/1000)
	// The CPU time of this process per scaffold (user + system, mean): on a
	// busy machine the wall time above includes waiting for a CPU.
	fmt.Printf("figure scaffold_service_cpu_ms %.2f\n", float64(cpu.Microseconds())/1000/float64(n))
	return nil
}
