package nats_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	deleteExampleStream()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// deleteExampleStream removes the stream that Example creates.
func deleteExampleStream() {
	plugintest.OnNATS(func(ctx context.Context, js jetstream.JetStream) { _ = js.DeleteStream(ctx, "EXAMPLE") })
}

// TestConformance runs the broker suite in JetStream mode. Core mode cannot
// pass its Redelivery subtest (core NATS keeps no message to deliver again);
// TestCore covers the rest of the suite for it.
func TestConformance(t *testing.T) {
	rawJS(t)
	tests := []struct {
		name   string
		config func(*micronats.Config)
	}{
		{"jetstream", func(*micronats.Config) {}},
		{"jetstream prefetch 1", func(c *micronats.Config) { c.Prefetch = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokertest.Run(t, func(t *testing.T) broker.Broker {
				cfg := testConfig(t, micronats.ModeJetStream)
				tt.config(&cfg)
				return newBroker(t, cfg)
			})
		})
	}
}
