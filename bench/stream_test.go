package bench_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/seedmicro/micro/bench"
)

// cpuPerOp reports the process's CPU time per iteration of b (user and
// system, all goroutines of both ends), a figure that the machine's load
// moves much less than the wall-clock time per iteration. Call it before
// the loop; the returned function after it.
func cpuPerOp(b *testing.B) func() {
	b.Helper()
	start, err := bench.ProcessCPU(0)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		end, err := bench.ProcessCPU(0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// loop opens a stream with open and runs the function it returns once per
// iteration of b.
func loop(b *testing.B, open func(context.Context) (func() error, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op, err := open(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream receives a server stream of 1 KiB messages and runs a
// 1 KiB bidirectional echo, with micro and with grpc-go. `make bench` prints
// the side-by-side comparison with ratios (bench/cmd/streambench); this
// form is for profiling: go test -bench Stream/micro/feed -cpuprofile cpu.out ./bench
func BenchmarkStream(b *testing.B) {
	payload := bytes.Repeat([]byte{'x'}, 1024)
	for _, start := range []func() (*bench.StreamSystem, error){bench.StartMicroStreams, bench.StartGRPCStreams} {
		s, err := start()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.Name+"/feed", func(b *testing.B) {
			loop(b, func(ctx context.Context) (func() error, error) { return s.Feed(ctx, len(payload)) })
		})
		b.Run(s.Name+"/echo", func(b *testing.B) {
			loop(b, func(ctx context.Context) (func() error, error) { return s.Echo(ctx, payload) })
		})
		b.Run(s.Name+"/echo16", func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			defer cpuPerOp(b)()
			b.RunParallel(func(pb *testing.PB) {
				rt, err := s.Echo(ctx, payload)
				if err != nil {
					b.Error(err)
					return
				}
				for pb.Next() {
					if err := rt(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		s.Close()
	}
}
