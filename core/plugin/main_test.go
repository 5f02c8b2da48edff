package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	brokermemory "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	registrymemory "github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/store"
	storememory "github.com/seedmicro/micro/core/store/memory"
)

// The tests run plugins in child processes by starting the test binary
// itself: with envServe set, TestMain serves the plugin it names instead of
// running tests.
const (
	// envServe names the plugin TestMain serves; see servePlugin.
	envServe = "MICRO_PLUGIN_TEST_SERVE"
	// envMarker is a file the child writes its pid to as soon as it runs.
	envMarker = "MICRO_PLUGIN_TEST_MARKER"
	// envHost makes TestMain a host that starts a plugin and waits to be
	// killed; see runHost.
	envHost = "MICRO_PLUGIN_TEST_HOST"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(envServe); name != "" {
		servePlugin(name)
		os.Exit(0)
	}
	if spec := os.Getenv(envHost); spec != "" {
		runHost(spec)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testConfig is the configuration of the configurable test plugins.
type testConfig struct {
	QueueSize     int `json:"queue_size"`
	MaxDeliveries int `json:"max_deliveries"`
	TLS           struct {
		CA   string `json:"ca"`
		Port int    `json:"port"`
	} `json:"tls"`
	Required string `json:"required"`
}

// newConfiguredBroker is the function of the configurable broker plugin.
func newConfiguredBroker(_ context.Context, cfg *testConfig) (broker.Broker, error) {
	if cfg.Required == "" {
		return nil, &plugin.SettingsError{Field: "required", Reason: "missing; set it to anything"}
	}
	if cfg.Required == "fail" {
		return nil, errors.New("cannot reach the broker at fail:1234")
	}
	slog.Info("broker configured", "queue_size", cfg.QueueSize)
	return brokermemory.New(brokermemory.WithQueueSize(cfg.QueueSize), brokermemory.WithMaxDeliveries(cfg.MaxDeliveries)), nil
}

// testPlugins are the plugins the tests serve, in process and in a child.
var testPlugins = map[string]func() plugin.Plugin{
	"broker":   func() plugin.Plugin { return plugin.Broker(brokermemory.New()) },
	"registry": func() plugin.Plugin { return plugin.Registry(registrymemory.New()) },
	"store":    func() plugin.Plugin { return plugin.Store(storememory.New()) },
	"configured-broker": func() plugin.Plugin {
		return plugin.BrokerFunc(newConfiguredBroker)
	},
	"faulty-store": func() plugin.Plugin { return plugin.Store(faultyStore{}) },
	"chatty-store": func() plugin.Plugin {
		return plugin.StoreFunc(func(context.Context, *struct{}) (store.Store, error) {
			slog.Debug("store configured", "answer", 42)
			fmt.Fprintln(os.Stderr, "a line on stderr")
			return storememory.New(), nil
		})
	},
}

func servePlugin(name string) {
	if marker := os.Getenv(envMarker); marker != "" {
		if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			panic(err)
		}
	}
	newPlugin, ok := testPlugins[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "no test plugin %q\n", name)
		os.Exit(2)
	}
	plugin.Serve(newPlugin())
}

// quiet is the logger of tests that do not look at logs.
var quiet = slog.New(slog.DiscardHandler)

// watchdog is a slog.Handler that fails a test when a plugin process
// reports a data race or a panic on its standard error, and drops every
// other record.
type watchdog struct{ t *testing.T }

func (w watchdog) Enabled(context.Context, slog.Level) bool { return true }

func (w watchdog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "DATA RACE") || strings.HasPrefix(r.Message, "panic:") {
		w.t.Errorf("plugin process: %s", r.Message)
	}
	return nil
}

func (w watchdog) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w watchdog) WithGroup(string) slog.Handler      { return w }

// openChild starts the test binary as the plugin serve, which is of kind.
func openChild(t *testing.T, kind plugin.Kind, serve string, opts ...plugin.Option) (*plugin.Client, error) {
	t.Helper()
	t.Setenv(envServe, serve)
	// A binary built with -race sleeps a second before it exits, for
	// races of goroutines to be reported; the watchdog catches those
	// reported before.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	opts = append([]plugin.Option{plugin.WithLogger(slog.New(watchdog{t}))}, opts...)
	c, err := plugin.Open(ctx, os.Args[0], kind, opts...)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// mustOpenChild is openChild that fails t on error.
func mustOpenChild(t *testing.T, kind plugin.Kind, serve string, opts ...plugin.Option) *plugin.Client {
	t.Helper()
	c, err := openChild(t, kind, serve, opts...)
	if err != nil {
		t.Fatalf("Open %s: %v", serve, err)
	}
	return c
}

// connect serves the plugin serve in process and connects to it.
func connect(t *testing.T, serve string, opts ...plugin.Option) (*plugin.Client, error) {
	t.Helper()
	opts = append([]plugin.Option{plugin.WithLogger(quiet)}, opts...)
	c, err := plugin.TestClient(t, testPlugins[serve](), opts...)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func mustConnect(t *testing.T, serve string, opts ...plugin.Option) *plugin.Client {
	t.Helper()
	c, err := connect(t, serve, opts...)
	if err != nil {
		t.Fatalf("TestClient %s: %v", serve, err)
	}
	return c
}

// modes are the two ways the tests reach a plugin.
var modes = []struct {
	name string
	open func(t *testing.T, kind plugin.Kind, serve string, opts ...plugin.Option) *plugin.Client
}{
	{"in-process", func(t *testing.T, _ plugin.Kind, serve string, opts ...plugin.Option) *plugin.Client {
		return mustConnect(t, serve, opts...)
	}},
	{"child-process", mustOpenChild},
}

var (
	_ registry.Registry = (*plugin.RegistryClient)(nil)
	_ broker.Broker     = (*plugin.BrokerClient)(nil)
	_ store.Store       = (*plugin.StoreClient)(nil)
)
