package nats_test

import (
	"context"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	micronats "github.com/seedmicro/micro/plugins/registry/nats"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		plugintest.DeleteNATSBucket(micronats.DefaultBucket + "_example")
		os.Exit(code)
	}))
}

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
