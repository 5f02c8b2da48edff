package bench_test

import (
	"context"
	"os"
	"testing"

	"github.com/seedmicro/micro/bench"
)

// TestMain lets the test binary be the plugin and the raw gRPC server of
// the plugin benchmarks.
func TestMain(m *testing.M) {
	bench.ServePluginChild()
	os.Exit(m.Run())
}

// BenchmarkPluginCall measures one Store.Read and one Broker.Publish (1
// KiB) in process, through the plugin bridge, and as raw gRPC calls with
// and without mutual TLS. `go run ./bench/cmd/pluginbench` prints the
// comparison with ratios; this form is for profiling:
// go test -run '^$' -bench PluginCall/publish/plugin -cpuprofile cpu.out ./bench
func BenchmarkPluginCall(b *testing.B) {
	raw, plugins := startPluginSystems(b)
	inRead, err := bench.InProcessRead()
	if err != nil {
		b.Fatal(err)
	}
	defer inRead.Close()
	inPublish := bench.InProcessPublish()
	defer inPublish.Close()
	for _, op := range []struct {
		name    string
		systems []*bench.System
	}{
		{"store_read", []*bench.System{inRead, plugins.Read(), raw.Read(true), raw.Read(false)}},
		{"publish", []*bench.System{inPublish, plugins.Publish(), raw.Publish(true), raw.Publish(false)}},
	} {
		for _, s := range op.systems {
			b.Run(op.name+"/"+s.Name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					if err := s.Call(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPluginStream measures streaming publish of 1 KiB messages
// through the bridge and raw gRPC client streaming: ns per message.
func BenchmarkPluginStream(b *testing.B) {
	raw, plugins := startPluginSystems(b)
	for _, s := range []struct {
		name string
		run  func(n int) error
	}{
		{"plugin", plugins.StreamN},
		{"raw-grpc-mtls", func(n int) error { return raw.StreamN(n, true) }},
		{"raw-grpc", func(n int) error { return raw.StreamN(n, false) }},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(bench.PayloadSize)
			b.ReportAllocs()
			if err := s.run(b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPluginStartup measures the start of a plugin process, its
// checksum verified, to its first successful call.
func BenchmarkPluginStartup(b *testing.B) {
	for b.Loop() {
		if err := bench.StartOnce(); err != nil {
			b.Fatal(err)
		}
	}
}

// startPluginSystems starts the raw gRPC child and the plugins, stopped
// when b ends.
func startPluginSystems(b *testing.B) (*bench.RawGRPC, *bench.Plugins) {
	b.Helper()
	raw, err := bench.StartRawGRPC()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	plugins, err := bench.StartPlugins()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(plugins.Close)
	return raw, plugins
}
