// Command streambench compares micro's streams with grpc-go's on loopback,
// in one run: a server stream of 1 KiB messages (messages per second on one
// stream) and a bidirectional echo of 1 KiB messages on 16 concurrent
// streams (round trips per second). It prints a table and then one
// `ratio <name> <value>` line per figure, micro divided by grpc-go.
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
	dur := flag.Duration("duration", 3*time.Second, "measuring time per system and figure")
	warm := flag.Duration("warmup", 500*time.Millisecond, "warm-up before each measurement")
	size := flag.Int("payload", 1024, "message size in bytes")
	conc := flag.Int("concurrency", 16, "streams of the bidirectional echo")
	flag.Parse()
	payload := bytes.Repeat([]byte{'x'}, *size)

	feed := map[string]float64{}
	echo := map[string]float64{}
	fmt.Printf("%-6s %-22s %14s\n", "system", "figure", "msgs/s")
	for _, start := range []func() (*bench.StreamSystem, error){bench.StartMicroStreams, bench.StartGRPCStreams} {
		s, err := start()
		if err != nil {
			fail(err)
		}
		f, err := bench.MeasureFeed(s, *size, *warm, *dur)
		if err != nil {
			fail(fmt.Errorf("%s server stream: %w", s.Name, err))
		}
		fmt.Printf("%-6s %-22s %14.0f\n", s.Name, "server stream", f.Rate)
		e, err := bench.MeasureEcho(s, *conc, payload, *warm, *dur)
		if err != nil {
			fail(fmt.Errorf("%s bidi echo: %w", s.Name, err))
		}
		fmt.Printf("%-6s %-22s %14.0f\n", s.Name, fmt.Sprintf("bidi echo c%d", *conc), e.Rate)
		s.Close()
		feed[s.Name], echo[s.Name] = f.Rate, e.Rate
	}
	fmt.Println()
	fmt.Printf("# ratios are micro / grpc-go, higher is better (targets: stream_msgs >= 1.5, bidi_c%d >= 1.2)\n", *conc)
	fmt.Printf("ratio stream_msgs_vs_grpc %.2f\n", feed["micro"]/feed["grpc"])
	fmt.Printf("ratio bidi_c%d_vs_grpc %.2f\n", *conc, echo["micro"]/echo["grpc"])
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "streambench:", err)
	os.Exit(1)
}
