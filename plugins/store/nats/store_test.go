package nats_test

import (
	"context"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		plugintest.DeleteNATSBucket(exampleBucket)
		os.Exit(code)
	}))
}

const exampleBucket = "micro_store_example"

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
