package nats_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	micronats "github.com/seedmicro/micro/plugins/registry/nats"
)

func TestMain(m *testing.M) {
	code := m.Run()
	deleteBucket(micronats.DefaultBucket + "_example")
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// serverURL is the NATS server the tests use: MICRO_TEST_NATS, or the
// default address.
func serverURL() string { return plugintest.NATSURL() }

// rawJS connects with the plain client, failing t with advice when the
// server or its JetStream is not there.
func rawJS(t testing.TB) jetstream.JetStream { return plugintest.NATSJetStream(t) }

func deleteBucket(name string) { plugintest.DeleteNATSBucket(name) }

// testBucket returns a bucket name of its own, deleted when t ends.
func testBucket(t testing.TB) string { return plugintest.NATSBucket(t, "microtest_registry_") }

func newRegistry(t testing.TB, cfg micronats.Config) *micronats.Registry {
	t.Helper()
	return settingstest.Open(t, newFn, cfg)
}

func newFn(ctx context.Context, cfg micronats.Config) (*micronats.Registry, error) {
	return micronats.New(ctx, cfg)
}

func TestConformance(t *testing.T) { suite(t).InProcess(t) }
