// Command typedbench measures what a call through a client that micro-new
// gen writes costs against the same call made with service and endpoint as
// strings (client.Call): one in-process greeter server on loopback, one
// client, calls one at a time. The two kinds alternate in short blocks so
// that both see the same machine; the figure is the median, over pairs of
// adjacent blocks, of the typed block's time over the string block's. It
// prints
// `ratio typed_call_vs_string_call <value>` (target <= 1.02).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
	"github.com/seedmicro/micro/examples/greeter/greeter"
	"github.com/seedmicro/micro/examples/greeter/greeter/greeterclient"
)

func main() {
	dur := flag.Duration("duration", 3*time.Second, "measuring time per kind of call")
	block := flag.Int("block", 100, "calls of one kind in a row before switching")
	flag.Parse()
	if err := run(*dur, *block); err != nil {
		fmt.Fprintln(os.Stderr, "typedbench:", err)
		os.Exit(1)
	}
}

func run(dur time.Duration, block int) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := memory.New()
	defer reg.Close()
	srv := server.New(server.WithName(greeter.ServiceName), server.WithRegistry(reg), server.WithLogger(log))
	if err := srv.Handle(&greeter.Greeter{Log: log}); err != nil {
		return err
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Stop(ctx)
	cl := client.New(client.WithRegistry(reg))
	defer cl.Close()

	req := &greeter.HelloRequest{Name: "bench"}
	typed := greeterclient.New(cl)
	typedCall := func() error {
		_, err := typed.Hello(ctx, req)
		return err
	}
	stringCall := func() error {
		var rsp greeter.HelloResponse
		return cl.Call(ctx, greeter.ServiceName, "Greeter.Hello", req, &rsp)
	}
	kinds := []func() error{typedCall, stringCall}
	timeBlock := func(f func() error) (time.Duration, error) {
		start := time.Now()
		for range block {
			if err := f(); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	// Warm up both paths: connections, pools, caches.
	for range 20 {
		for _, f := range kinds {
			if _, err := timeBlock(f); err != nil {
				return err
			}
		}
	}
	var total [2]time.Duration
	var calls int
	var ratios []float64 // typed / string, per pair of blocks
	for i := 0; total[0] < dur || total[1] < dur; i++ {
		// Alternate which kind goes first, so neither always follows the other.
		var pair [2]time.Duration
		for j := range 2 {
			k := (i + j) % 2
			d, err := timeBlock(kinds[k])
			if err != nil {
				return err
			}
			pair[k] = d
			total[k] += d
		}
		ratios = append(ratios, float64(pair[0])/float64(pair[1]))
		calls += block
	}
	slices.Sort(ratios)
	perTyped := total[0] / time.Duration(calls)
	perString := total[1] / time.Duration(calls)
	fmt.Printf("%-12s %10s %8s\n", "call", "per call", "calls")
	fmt.Printf("%-12s %10s %8d\n", "typed", perTyped.Round(time.Microsecond/10), calls)
	fmt.Printf("%-12s %10s %8d\n", "string", perString.Round(time.Microsecond/10), calls)
	fmt.Printf("# typed / string over all calls: %.3f\n", float64(total[0])/float64(total[1]))
	fmt.Println("# the ratio is the median over pairs of adjacent blocks, which a burst of load on a shared machine moves least")
	fmt.Println("# typed call time / string call time: lower is better (target <= 1.02)")
	fmt.Printf("ratio typed_call_vs_string_call %.3f\n", ratios[len(ratios)/2])
	return nil
}
