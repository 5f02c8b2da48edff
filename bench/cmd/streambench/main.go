// Command streambench compares micro's streams with grpc-go's on loopback,
// in one run: a server stream of 1 KiB messages (messages per second on one
// stream) and a bidirectional echo of 1 KiB messages on 16 concurrent
// streams (round trips per second). Both systems run side by side and are
// measured in alternating rounds, so that a change in the machine's load
// falls on both. It prints a table and then one `ratio <name> <value>`
// line per figure, micro divided by grpc-go.
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
	dur := flag.Duration("duration", 3*time.Second, "measuring time per system and figure, split over the rounds")
	warm := flag.Duration("warmup", 500*time.Millisecond, "warm-up before each measurement")
	rounds := flag.Int("rounds", 5, "alternating rounds")
	size := flag.Int("payload", 1024, "message size in bytes")
	conc := flag.Int("concurrency", 16, "streams of the bidirectional echo")
	flag.Parse()
	payload := bytes.Repeat([]byte{'x'}, *size)
	*rounds = max(*rounds, 1)
	slice := *dur / time.Duration(*rounds)

	var systems []*bench.StreamSystem
	for _, start := range []func() (*bench.StreamSystem, error){bench.StartMicroStreams, bench.StartGRPCStreams} {
		s, err := start()
		if err != nil {
			fail(err)
		}
		defer s.Close()
		systems = append(systems, s)
	}
	type total struct{ msgs, secs float64 }
	feed := map[string]*total{}
	echo := map[string]*total{}
	for _, s := range systems {
		feed[s.Name], echo[s.Name] = &total{}, &total{}
		// Warm-up: connections, buffers, the scheduler's view of the load.
		if _, err := bench.MeasureFeed(s, *size, *warm, time.Millisecond); err != nil {
			fail(fmt.Errorf("%s server stream: %w", s.Name, err))
		}
		if _, err := bench.MeasureEcho(s, *conc, payload, *warm, time.Millisecond); err != nil {
			fail(fmt.Errorf("%s bidi echo: %w", s.Name, err))
		}
	}
	for r := 0; r < *rounds; r++ {
		fmt.Fprintf(os.Stderr, "streambench: round %d of %d\n", r+1, *rounds)
		for _, s := range systems {
			f, err := bench.MeasureFeed(s, *size, 50*time.Millisecond, slice)
			if err != nil {
				fail(fmt.Errorf("%s server stream: %w", s.Name, err))
			}
			feed[s.Name].msgs += float64(f.Messages)
			feed[s.Name].secs += f.Elapsed.Seconds()
			e, err := bench.MeasureEcho(s, *conc, payload, 50*time.Millisecond, slice)
			if err != nil {
				fail(fmt.Errorf("%s bidi echo: %w", s.Name, err))
			}
			echo[s.Name].msgs += float64(e.Messages)
			echo[s.Name].secs += e.Elapsed.Seconds()
		}
	}
	rate := func(t *total) float64 { return t.msgs / t.secs }
	fmt.Printf("%-6s %-22s %14s\n", "system", "figure", "msgs/s")
	for _, s := range systems {
		fmt.Printf("%-6s %-22s %14.0f\n", s.Name, "server stream", rate(feed[s.Name]))
		fmt.Printf("%-6s %-22s %14.0f\n", s.Name, fmt.Sprintf("bidi echo c%d", *conc), rate(echo[s.Name]))
	}
	fmt.Println()
	fmt.Printf("# ratios are micro / grpc-go, higher is better (targets: stream_msgs >= 1.5, bidi_c%d >= 1.2)\n", *conc)
	fmt.Printf("ratio stream_msgs_vs_grpc %.2f\n", rate(feed["micro"])/rate(feed["grpc"]))
	fmt.Printf("ratio bidi_c%d_vs_grpc %.2f\n", *conc, rate(echo["micro"])/rate(echo["grpc"]))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "streambench:", err)
	os.Exit(1)
}
