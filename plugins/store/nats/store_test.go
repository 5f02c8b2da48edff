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
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

func TestMain(m *testing.M) {
	code := m.Run()
	deleteBucket(exampleBucket)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const exampleBucket = "micro_store_example"

// serverURL is the NATS server the tests use: MICRO_TEST_NATS, or the
// default address.
func serverURL() string { return plugintest.NATSURL() }

// rawJS connects with the plain client, failing t with advice when the
// server or its JetStream is not there.
func rawJS(t testing.TB) jetstream.JetStream { return plugintest.NATSJetStream(t) }

func deleteBucket(name string) { plugintest.DeleteNATSBucket(name) }

// testBucket returns a bucket name of its own, deleted when t ends.
func testBucket(t testing.TB) string { return plugintest.NATSBucket(t, "microtest_store_") }

func newStore(t testing.TB, cfg micronats.Config) *micronats.Store {
	t.Helper()
	return settingstest.Open(t, newFn, cfg)
}

func newFn(ctx context.Context, cfg micronats.Config) (*micronats.Store, error) {
	return micronats.New(ctx, cfg)
}

func TestConformance(t *testing.T) { suite(t).InProcess(t) }
