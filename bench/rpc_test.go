package bench_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/seedmicro/micro/bench"
)

// BenchmarkUnary runs each system at concurrency 1 and 64 (1 KiB payload).
// `make bench` prints the side-by-side comparison with ratios; this form is
// for profiling: go test -bench Unary/micro/c64 -cpuprofile cpu.out ./bench
func BenchmarkUnary(b *testing.B) {
	payload := bytes.Repeat([]byte{'x'}, 1024)
	for _, start := range []func([]byte) (*bench.System, error){bench.StartMicro, bench.StartGRPC, bench.StartNetRPC} {
		for _, conc := range []int{1, 64} {
			s, err := start(payload)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(s.Name+"/c"+itoa(conc), func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism((conc + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				if conc == 1 {
					for b.Loop() {
						if err := s.Call(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.Call(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
			s.Close()
		}
	}
}

func itoa(n int) string {
	if n == 1 {
		return "1"
	}
	return "64"
}
