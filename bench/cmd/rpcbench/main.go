// Command rpcbench compares micro's unary RPC with grpc-go and net/rpc on
// loopback, 1 KiB payloads, at concurrency 1 and 64, in one run. It prints a
// table and then one `ratio <name> <value>` line per figure; every ratio is
// micro divided by the baseline.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/seedmicro/micro/bench"
)

func main() {
	dur := flag.Duration("duration", 3*time.Second, "measuring time per system and concurrency")
	warm := flag.Duration("warmup", 500*time.Millisecond, "warm-up before each measurement")
	size := flag.Int("payload", 1024, "payload size in bytes")
	flag.Parse()
	payload := bytes.Repeat([]byte{'x'}, *size)

	starts := []func([]byte) (*bench.System, error){bench.StartMicro, bench.StartGRPC, bench.StartNetRPC}
	results := map[string]map[int]bench.Result{}
	fmt.Printf("%-8s %4s %12s %10s %10s %8s\n", "system", "conc", "ops/s", "p50", "p99", "errors")
	for _, conc := range []int{1, 64} {
		for _, start := range starts {
			s, err := start(payload)
			if err != nil {
				fmt.Fprintln(os.Stderr, "rpcbench:", err)
				os.Exit(1)
			}
			r := bench.Measure(s, conc, *warm, *dur)
			s.Close()
			if results[s.Name] == nil {
				results[s.Name] = map[int]bench.Result{}
			}
			results[s.Name][conc] = r
			fmt.Printf("%-8s %4d %12.0f %10s %10s %8d\n", s.Name, conc, r.QPS, r.P50.Round(time.Microsecond/10), r.P99.Round(time.Microsecond/10), r.Errors)
		}
	}
	m, g, n := results["micro"], results["grpc"], results["netrpc"]
	fmt.Println()
	fmt.Println("# ratios are micro / baseline: qps higher is better (target c64 vs grpc >= 1.5), latency lower is better (target c1 p50 vs netrpc <= 1.0)")
	for _, conc := range []int{1, 64} {
		fmt.Printf("ratio rpc_c%d_qps_vs_grpc %.2f\n", conc, m[conc].QPS/g[conc].QPS)
		fmt.Printf("ratio rpc_c%d_qps_vs_netrpc %.2f\n", conc, m[conc].QPS/n[conc].QPS)
		fmt.Printf("ratio rpc_c%d_p50_vs_grpc %.2f\n", conc, float64(m[conc].P50)/float64(g[conc].P50))
		fmt.Printf("ratio rpc_c%d_p50_vs_netrpc %.2f\n", conc, float64(m[conc].P50)/float64(n[conc].P50))
		fmt.Printf("ratio rpc_c%d_p99_vs_grpc %.2f\n", conc, float64(m[conc].P99)/float64(g[conc].P99))
		fmt.Printf("ratio rpc_c%d_p99_vs_netrpc %.2f\n", conc, float64(m[conc].P99)/float64(n[conc].P99))
	}
	for _, r := range results {
		for _, x := range r {
			if x.Errors > 0 {
				fmt.Fprintln(os.Stderr, "rpcbench: some calls failed; the figures are not comparable")
				os.Exit(1)
			}
		}
	}
}
