// Command apibench compares calls through the HTTP API gateway (toolkit/api)
// with direct client calls to the same service, in one run: 1 KiB JSON
// bodies on loopback, concurrency 64 for throughput and 1 for the latency
// the gateway adds. The load generator is a lean HTTP/1.1 client on
// keep-alive connections and micro's client. It prints a table (with the
// process's CPU time per call: load generator, gateway and service) and then
//
//	ratio api_c64_qps_vs_direct <gateway qps / direct qps>
//	figure api_p50_added_latency_us <gateway p50 - direct p50 at concurrency 1, in µs>
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seedmicro/micro/bench"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/codec"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/toolkit/api"
	"github.com/seedmicro/micro/toolkit/toolkittest"
)

func main() {
	dur := flag.Duration("duration", 3*time.Second, "measuring time per system and concurrency")
	warm := flag.Duration("warmup", 500*time.Millisecond, "warm-up before each measurement")
	size := flag.Int("payload", 1024, "size of the JSON body in bytes")
	rounds := flag.Int("rounds", 3, "rounds, each measuring direct then gateway; the figures are the medians over rounds")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE`")
	only := flag.String("only", "", "measure only `SYSTEM` (direct or gateway), e.g. to profile it alone; no ratio is printed")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apibench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *only != "" && *only != "direct" && *only != "gateway" {
		fmt.Fprintf(os.Stderr, "apibench: -only=%q: want direct or gateway\n", *only)
		os.Exit(2)
	}
	if err := run(*dur, *warm, *size, max(*rounds, 1), *only); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

func run(dur, warm time.Duration, size, rounds int, only string) error {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	srv, err := toolkittest.Start(ctx, reg, "greeter", nil, nil)
	if err != nil {
		return err
	}
	defer srv.Stop(ctx)

	// A request whose JSON encoding is size bytes.
	msg := &toolkittest.EchoMessage{ID: 1}
	base, _ := json.Marshal(msg)
	msg.Text = strings.Repeat("x", max(size-len(base), 0))
	body, _ := json.Marshal(msg)

	// Both sides send the same prepared bytes and take the reply's bytes
	// without decoding them: the direct client through codec.RawJSON, the
	// HTTP load generator by writing and counting bytes.
	direct := client.New(client.WithRegistry(reg))
	defer direct.Close()
	directSys := &bench.System{Name: "direct", Close: func() {}, Call: func(ctx context.Context) error {
		var rsp codec.RawJSON
		if err := direct.Call(ctx, "greeter", "Greeter.Echo", codec.RawJSON(body), &rsp); err != nil {
			return err
		}
		if len(rsp) != len(body) {
			return fmt.Errorf("echo of %d bytes came back with %d", len(body), len(rsp))
		}
		return nil
	}}

	gwClient := client.New(client.WithRegistry(reg))
	defer gwClient.Close()
	h := api.New(reg, gwClient)
	defer h.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- api.Serve(sctx, l, h, 5*time.Second) }()
	defer func() { stop(); <-served }()
	// The load generator speaks HTTP/1.1 itself, as wrk does: one
	// keep-alive connection per caller, the request bytes prepared once,
	// the response read with the least parsing (roundTrip). Go's
	// http.Client would spend as much CPU as the gateway, on the same two
	// cores.
	addr := l.Addr().String()
	reqBytes := []byte(fmt.Sprintf("POST /greeter/echo HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body))
	conns := make(chan *httpConn, 256)
	defer func() {
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	}()
	gatewaySys := &bench.System{Name: "gateway", Close: func() {}, Call: func(ctx context.Context) error {
		var c *httpConn
		select {
		case c = <-conns:
		default:
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			c = &httpConn{Conn: nc, r: bufio.NewReaderSize(nc, 8192)}
		}
		status, n, err := c.roundTrip(reqBytes)
		if err != nil {
			c.Close()
			return err
		}
		if status != http.StatusOK || n != int64(len(body)) {
			c.Close()
			return fmt.Errorf("gateway answered %d with %d bytes", status, n)
		}
		select {
		case conns <- c:
		default:
			c.Close()
		}
		return nil
	}}

	// Rounds alternate the two systems, so that a change in the load of the
	// machine does not favour one of them; each figure is the median of
	// the rounds' figures. The cpu/call column is the CPU time of the
	// whole process (load generator, gateway and service alike) per call.
	systems := []*bench.System{directSys, gatewaySys}
	if only != "" {
		systems = slices.DeleteFunc(systems, func(s *bench.System) bool { return s.Name != only })
	}
	var ratios, added []float64
	fmt.Printf("%5s %-8s %4s %12s %10s %10s %10s %8s\n", "round", "system", "conc", "ops/s", "p50", "p99", "cpu/call", "errors")
	for round := 1; round <= rounds; round++ {
		results := map[string]map[int]bench.Result{"direct": {}, "gateway": {}}
		for _, conc := range []int{64, 1} {
			for _, s := range systems {
				cpu0, err0 := bench.ProcessCPU(0)
				r := bench.Measure(s, conc, warm, dur)
				cpu1, err1 := bench.ProcessCPU(0)
				// The CPU time spans the warm-up too, taken to run at
				// the rate measured after it.
				perCall := "-"
				if n := float64(r.Calls) * float64(warm+dur) / float64(dur); n > 0 && err0 == nil && err1 == nil {
					perCall = time.Duration(float64(cpu1-cpu0) / n).Round(time.Microsecond / 10).String()
				}
				results[s.Name][conc] = r
				fmt.Printf("%5d %-8s %4d %12.0f %10s %10s %10s %8d\n", round, s.Name, conc, r.QPS, r.P50.Round(time.Microsecond/10), r.P99.Round(time.Microsecond/10), perCall, r.Errors)
				if r.Errors > 0 {
					return fmt.Errorf("%d calls of %s failed; the figures are not comparable", r.Errors, s.Name)
				}
			}
		}
		if only != "" {
			continue
		}
		d, g := results["direct"], results["gateway"]
		ratios = append(ratios, g[64].QPS/d[64].QPS)
		added = append(added, float64(g[1].P50-d[1].P50)/float64(time.Microsecond))
	}
	if only != "" {
		return nil
	}
	fmt.Println()
	fmt.Printf("# %d-byte JSON bodies, %d rounds; qps ratio is gateway / direct at concurrency 64 (target >= 0.8); added latency is the p50 difference at concurrency 1\n", len(body), rounds)
	fmt.Printf("ratio api_c64_qps_vs_direct %.2f\n", median(ratios))
	fmt.Printf("figure api_p50_added_latency_us %.0f\n", median(added))
	return nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// httpConn is a keep-alive HTTP/1.1 connection of the load generator.
type httpConn struct {
	net.Conn
	r *bufio.Reader
}

// roundTrip writes a prepared request and reads the response, returning its
// status and body size. It reads only what the gateway sends, as wrk does:
// a status line, headers with a Content-Length, and that many bytes of
// body; anything else is an error.
func (c *httpConn) roundTrip(req []byte) (int, int64, error) {
	if _, err := c.Write(req); err != nil {
		return 0, 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, fmt.Errorf("malformed status line %q", line)
	}
	n := int64(-1)
	for {
		if line, err = c.r.ReadSlice('\n'); err != nil {
			return 0, 0, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if n, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err != nil || n < 0 {
				return 0, 0, fmt.Errorf("malformed header %q", line)
			}
		}
	}
	if n < 0 {
		return 0, 0, fmt.Errorf("response %d without a Content-Length", status)
	}
	if _, err := c.r.Discard(int(n)); err != nil {
		return 0, 0, err
	}
	return status, n, nil
}
