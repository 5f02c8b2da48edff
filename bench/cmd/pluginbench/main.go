// Command pluginbench measures what running a broker or a store out of
// process, through the plugin bridge, costs, in one run:
//
//   - the per-call cost of Broker.Publish and Store.Read (1 KiB) in process,
//     through the bridge (a real plugin process, mutual TLS over a unix
//     socket), and as a raw gRPC unary call of the same messages to a child
//     process over a unix socket, with the same mutual TLS and without;
//   - streaming publish of 1 KiB messages through the bridge against raw
//     gRPC client streaming, with and without mutual TLS;
//   - the start-up of a plugin, from Open (checksum verified) to its first
//     successful call.
//
// It prints a table, then one `ratio <name> <value>` line per figure. The
// bridge is compared first with raw gRPC over the same mutual TLS (the fair
// comparison: the bridge cannot drop its TLS) and then, for reference,
// with raw gRPC in plaintext (names ending in _plaintext). Per-call ratios
// are bridge / raw (lower is better; target <= 1.5), streaming ratios raw
// throughput shares (higher is better; target >= 0.8), and start-up is in
// milliseconds (target <= 50).
//
// The plugin and the raw server are this binary, started again as a child.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/seedmicro/micro/bench"
)

func main() {
	bench.ServePluginChild()
	dur := flag.Duration("duration", time.Second, "measuring time per system and round")
	warm := flag.Duration("warmup", 300*time.Millisecond, "warm-up before each measurement")
	rounds := flag.Int("rounds", 3, "rounds, interleaved; the median is reported")
	startups := flag.Int("startups", 15, "plugin start-ups measured")
	flag.Parse()
	if err := run(*dur, *warm, *rounds, *startups); err != nil {
		fmt.Fprintln(os.Stderr, "pluginbench:", err)
		os.Exit(1)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func run(dur, warm time.Duration, rounds, startups int) error {
	raw, err := bench.StartRawGRPC()
	if err != nil {
		return err
	}
	defer raw.Close()
	plugins, err := bench.StartPlugins()
	if err != nil {
		return err
	}
	defer plugins.Close()
	inRead, err := bench.InProcessRead()
	if err != nil {
		return err
	}
	defer inRead.Close()
	inPublish := bench.InProcessPublish()
	defer inPublish.Close()

	type op struct {
		name    string
		systems []*bench.System
	}
	ops := []op{
		{"store_read", []*bench.System{inRead, plugins.Read(), raw.Read(true), raw.Read(false)}},
		{"publish", []*bench.System{inPublish, plugins.Publish(), raw.Publish(true), raw.Publish(false)}},
	}
	// Per-call cost in ns and p50, by op and system, over the rounds.
	cost := map[string]map[string][]float64{}
	p50 := map[string]map[string][]float64{}
	stream := map[string][]float64{}
	for range rounds {
		for _, o := range ops {
			if cost[o.name] == nil {
				cost[o.name], p50[o.name] = map[string][]float64{}, map[string][]float64{}
			}
			for _, s := range o.systems {
				r := bench.Measure(s, 1, warm, dur)
				if r.Errors > 0 || r.Calls == 0 {
					return fmt.Errorf("%s %s: %d of %d calls failed", o.name, s.Name, r.Errors, r.Calls)
				}
				cost[o.name][s.Name] = append(cost[o.name][s.Name], float64(r.Elapsed.Nanoseconds())/float64(r.Calls))
				p50[o.name][s.Name] = append(p50[o.name][s.Name], float64(r.P50.Nanoseconds()))
			}
		}
		for _, s := range []struct {
			name string
			run  func() (float64, error)
		}{
			{"plugin", func() (float64, error) { return plugins.Stream(dur) }},
			{"raw-grpc-mtls", func() (float64, error) { return raw.Stream(dur, true) }},
			{"raw-grpc", func() (float64, error) { return raw.Stream(dur, false) }},
		} {
			if _, err := s.run(); err != nil { // warm-up
				return fmt.Errorf("stream %s: %w", s.name, err)
			}
			v, err := s.run()
			if err != nil {
				return fmt.Errorf("stream %s: %w", s.name, err)
			}
			stream[s.name] = append(stream[s.name], v)
		}
	}
	st, err := bench.MeasureStartup(startups)
	if err != nil {
		return fmt.Errorf("start-up: %w", err)
	}

	fmt.Printf("%-11s %-14s %12s %10s\n", "op", "system", "ns/call", "p50")
	for _, o := range ops {
		for _, s := range o.systems {
			fmt.Printf("%-11s %-14s %12.0f %10s\n", o.name, s.Name, median(cost[o.name][s.Name]),
				time.Duration(median(p50[o.name][s.Name])).Round(100*time.Nanosecond))
		}
	}
	fmt.Println()
	fmt.Printf("%-11s %-14s %12s %10s\n", "op", "system", "msgs/s", "MiB/s")
	for _, name := range []string{"plugin", "raw-grpc-mtls", "raw-grpc"} {
		v := median(stream[name])
		fmt.Printf("%-11s %-14s %12.0f %10.1f\n", "stream", name, v, v*bench.PayloadSize/(1<<20))
	}
	fmt.Println()
	fmt.Printf("plugin start-up to the first call, a %.1f MiB binary: median %v, min %v, its BLAKE3 verified (as installed by micro-new); median %v with its SHA-256 verified instead; median %v unverified\n",
		float64(st.BinarySize)/(1<<20), st.Median.Round(100*time.Microsecond), st.Min.Round(100*time.Microsecond), st.SHA256.Round(100*time.Microsecond), st.Unverified.Round(100*time.Microsecond))
	fmt.Println()
	fmt.Println("# per call: bridge / raw gRPC unary (target <= 1.5); stream: bridge / raw gRPC streaming throughput (target >= 0.8); start-up in ms (target <= 50)")
	for _, o := range ops {
		c := cost[o.name]
		fmt.Printf("ratio plugin_%s_vs_raw_grpc %.2f\n", o.name, median(c["plugin"])/median(c["raw-grpc-mtls"]))
		fmt.Printf("ratio plugin_%s_vs_raw_grpc_plaintext %.2f\n", o.name, median(c["plugin"])/median(c["raw-grpc"]))
		fmt.Printf("ratio plugin_%s_vs_inprocess %.1f\n", o.name, median(c["plugin"])/median(c["in-process"]))
	}
	fmt.Printf("ratio plugin_stream_publish_vs_raw_grpc %.2f\n", median(stream["plugin"])/median(stream["raw-grpc-mtls"]))
	fmt.Printf("ratio plugin_stream_publish_vs_raw_grpc_plaintext %.2f\n", median(stream["plugin"])/median(stream["raw-grpc"]))
	fmt.Printf("ratio plugin_startup_ms %.1f\n", float64(st.Median.Microseconds())/1000)
	fmt.Printf("ratio plugin_startup_sha256_ms %.1f\n", float64(st.SHA256.Microseconds())/1000)
	fmt.Printf("ratio plugin_startup_unverified_ms %.1f\n", float64(st.Unverified.Microseconds())/1000)
	return nil
}
