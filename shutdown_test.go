package micro_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/internal/testkit/inproc"
	"github.com/seedmicro/micro/resolve"
)

// TestStopAndCloseConcurrentWithRunsStop is issue 12 item 8: Service.Stop
// and Close, called concurrently with Run's own stop and with each other,
// more than once, from other goroutines, with every plugin (in process, on
// the servers on loopback) and with the embedded defaults. Each of the 100
// rounds per configuration starts the service with Run, then ends Run's
// context while two goroutines call Close and one calls Stop; every call
// must return, without panic, and Run must return nil. Before Stop was
// made safe, this panicked with "index out of range [0] with length 0" in
// Stop (two callers walking and clearing the list of components to close).
func TestStopAndCloseConcurrentWithRunsStop(t *testing.T) {
	t.Setenv(local.EnvDir, t.TempDir())
	configs := []struct {
		name string
		cfg  func(t *testing.T) resolve.Config
	}{
		{"embedded defaults", func(*testing.T) resolve.Config { return resolve.Config{} }},
		{"broker/redis", func(t *testing.T) resolve.Config {
			return resolve.Config{Broker: resolve.Component{Name: "redis", Address: testkit.Redis.URL(t), Settings: []byte(`{"prefix": "micro-shutdown-test"}`)}}
		}},
		{"broker/rabbitmq", func(t *testing.T) resolve.Config {
			return resolve.Config{Broker: resolve.Component{Name: "rabbitmq", Address: testkit.AMQP.URL(t), Settings: []byte(`{"exchange": "micro-shutdown-test"}`)}}
		}},
		{"broker/nats", func(t *testing.T) resolve.Config {
			return resolve.Config{Broker: resolve.Component{Name: "nats", Address: testkit.NATS.URL(t)}}
		}},
		{"registry/redis", func(t *testing.T) resolve.Config {
			return resolve.Config{Registry: resolve.Component{Name: "redis", Address: testkit.Redis.URL(t), Settings: []byte(`{"prefix": "micro-shutdown-test"}`)}}
		}},
		{"registry/nats", func(t *testing.T) resolve.Config {
			return resolve.Config{Registry: resolve.Component{Name: "nats", Address: testkit.NATS.URL(t), Settings: []byte(`{"bucket": "micro-shutdown-test"}`)}}
		}},
		{"store/redis", func(t *testing.T) resolve.Config {
			return resolve.Config{Store: resolve.Component{Name: "redis", Address: testkit.Redis.URL(t), Settings: []byte(`{"prefix": "micro-shutdown-test"}`)}}
		}},
		{"store/nats", func(t *testing.T) resolve.Config {
			return resolve.Config{Store: resolve.Component{Name: "nats", Address: testkit.NATS.URL(t), Settings: []byte(`{"bucket": "micro-shutdown-test"}`)}}
		}},
	}
	r := resolve.New(resolve.WithFactories(inproc.Factories()), resolve.WithLogger(slog.New(slog.DiscardHandler)), resolve.WithPluginDir(t.TempDir()))
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg(t)
			for i := range rounds {
				name := fmt.Sprintf("shutdown-%d", i)
				svc, err := micro.New(name, micro.WithConfig(cfg), micro.WithResolver(r), quiet())
				if err != nil {
					t.Fatalf("round %d: New: %v", i, err)
				}
				if err := svc.Handle(Greeter{}); err != nil {
					t.Fatal(err)
				}
				if err := svc.Subscribe("shutdown.test", func(context.Context, *Req) error { return nil }); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				ran := make(chan error, 1)
				go func() { ran <- svc.Run(ctx) }()
				waitRegistered(t, svc, name)

				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make(chan error, 3)
				for _, stop := range []func() error{
					svc.Close,
					svc.Close,
					func() error { return svc.Stop(context.Background()) },
				} {
					wg.Go(func() { <-start; errs <- stop() })
				}
				wg.Go(func() { <-start; cancel() })
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Errorf("round %d: a concurrent Stop or Close: %v", i, err)
					}
				}
				select {
				case err := <-ran:
					if err != nil {
						t.Errorf("round %d: Run after a concurrent stop = %v, want nil", i, err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("round %d: Run did not return after Stop and Close", i)
				}
				if err := svc.Close(); err != nil {
					t.Errorf("round %d: Close once more: %v", i, err)
				}
				if err := svc.Start(context.Background()); err != micro.ErrStopped {
					t.Errorf("round %d: Start after Stop = %v, want ErrStopped", i, err)
				}
				cancel()
			}
		})
	}
}

// waitRegistered waits until the service is in its registry, that is,
// until Run has started it.
func waitRegistered(t *testing.T, svc *micro.Service, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if nodes, err := svc.Registry().Lookup(context.Background(), name); err == nil && len(nodes) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s never registered", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
