package rabbitmq_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

// settings returns cfg as the JSON settings of the plugin.
func settings(t *testing.T, cfg rabbitmq.Config) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformanceBridge runs the conformance suite through the plugin
// bridge within this process, as the plugin binary serves the broker.
func TestConformanceBridge(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	p := plugin.BrokerFunc(func(ctx context.Context, cfg *rabbitmq.Config) (broker.Broker, error) {
		b, err := rabbitmq.New(ctx, *cfg, rabbitmq.WithLogger(testLogger(t)))
		if err != nil {
			return nil, err
		}
		return b, nil
	})
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		c, err := plugin.TestClient(t, p, plugin.WithSettings(settings(t, cfg)), plugin.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatalf("plugin.TestClient: %v", err)
		}
		return f.track(c.Broker(), cfg.Exchange)
	})
}

// TestConformancePluginBinary builds cmd/micro-plugin-broker-rabbitmq and
// runs the conformance suite through it, out of process.
func TestConformancePluginBinary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the plugin binary: %v", err)
	}
	path := filepath.Join(t.TempDir(), "micro-plugin-broker-rabbitmq")
	build := exec.Command(gobin, "build", "-o", path, "github.com/seedmicro/micro/plugins/broker/rabbitmq/cmd/micro-plugin-broker-rabbitmq")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)

	f := newFixture(t)
	cfg := f.config()
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		b, err := plugin.OpenBroker(ctx, path,
			plugin.WithSettings(settings(t, cfg)), plugin.WithChecksum(sum[:]), plugin.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatalf("plugin.OpenBroker: %v", err)
		}
		return f.track(b, cfg.Exchange)
	})

	t.Run("bad setting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := plugin.OpenBroker(ctx, path, plugin.WithSettings([]byte(`{"prefetch": 0, "exchnage": "x"}`)),
			plugin.WithChecksum(sum[:]), plugin.WithLogger(testLogger(t)))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "exchnage" {
			t.Errorf("OpenBroker with a misspelt setting = %v, want a *plugin.SettingsError naming it", err)
		}
	})
}
