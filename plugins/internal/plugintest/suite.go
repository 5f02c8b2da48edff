package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/registrytest"
	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/core/store/storetest"
)

// openTimeout bounds starting a plugin binary and opening its component.
const openTimeout = 30 * time.Second

// Suite runs the conformance suite of a plugin's kind against the plugin,
// with the settings of type C (its Config), three ways: in process
// (InProcess), through the plugin bridge within the test's process
// (Bridge), and through the plugin's binary, built from Command (Binary).
// The binary is also given settings it must refuse.
//
// A plugin's plugin_test.go fills a Suite and calls its methods:
//
//	func TestConformancePluginBinary(t *testing.T) { suite().Binary(t) }
type Suite[C any] struct {
	// Kind is the plugin's kind: plugin.KindBroker, KindRegistry or
	// KindStore.
	Kind plugin.Kind
	// Command is the import path of the plugin's command.
	Command string
	// New makes the component in process, as the command does: a
	// broker.Broker, registry.Registry or store.Store.
	New func(ctx context.Context, cfg C) (any, error)
	// Config returns the settings of one component the conformance suite
	// asks for; it is called once per component, with the subtest's t.
	Config func(t *testing.T) C
	// Logger, if set, is the logger of each component and plugin client;
	// by default they log nothing.
	Logger func(t testing.TB) *slog.Logger
	// Track, if set, is called with each component the suite gets (in
	// process, from the bridge or from the binary) and its settings, and
	// returns what the suite uses: a hook to clean up after it.
	Track func(t *testing.T, x any, cfg C) any
	// Misspelt is settings with a field the plugin does not have, named
	// MisspeltField: the binary must refuse them with a
	// *plugin.SettingsError naming that field.
	Misspelt      string
	MisspeltField string
	// Invalid, when set, is settings that decode but that the plugin
	// refuses; its error must contain every one of InvalidWants.
	Invalid      string
	InvalidWants []string
}

func (s Suite[C]) logger(t testing.TB) *slog.Logger {
	if s.Logger != nil {
		return s.Logger(t)
	}
	return slog.New(slog.DiscardHandler)
}

// settings returns cfg as JSON settings.
func settings(t testing.TB, cfg any) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run runs the conformance suite of s.Kind, with open making a component
// and its settings.
func (s Suite[C]) run(t *testing.T, open func(t *testing.T, cfg C) any) {
	t.Helper()
	get := func(t *testing.T) any {
		cfg := s.Config(t)
		x := open(t, cfg)
		if s.Track != nil {
			x = s.Track(t, x, cfg)
		}
		return x
	}
	switch s.Kind {
	case plugin.KindBroker:
		brokertest.Run(t, func(t *testing.T) broker.Broker { return get(t).(broker.Broker) })
	case plugin.KindRegistry:
		registrytest.Run(t, func(t *testing.T) registry.Registry { return get(t).(registry.Registry) })
	case plugin.KindStore:
		storetest.Run(t, func(t *testing.T) store.Store { return get(t).(store.Store) })
	default:
		t.Fatalf("plugintest: unknown kind %q", s.Kind)
	}
}

// closeWhenDone closes x, a registry or a store, when t ends; a broker is
// left to the conformance suite, which closes the brokers it is given.
func closeWhenDone(t *testing.T, x any) {
	if _, ok := x.(broker.Broker); ok {
		return
	}
	if c, ok := x.(io.Closer); ok {
		t.Cleanup(func() { c.Close() })
	}
}

// InProcess runs the conformance suite against components New makes.
func (s Suite[C]) InProcess(t *testing.T) {
	s.run(t, func(t *testing.T, cfg C) any {
		ctx, cancel := context.WithTimeout(t.Context(), openTimeout)
		defer cancel()
		x, err := s.New(ctx, cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		closeWhenDone(t, x)
		return x
	})
}

// plugin is the plugin the command serves: New, of the kind.
func (s Suite[C]) plugin() plugin.Plugin {
	switch s.Kind {
	case plugin.KindBroker:
		return plugin.BrokerFunc(newAs[C, broker.Broker](s))
	case plugin.KindRegistry:
		return plugin.RegistryFunc(newAs[C, registry.Registry](s))
	}
	return plugin.StoreFunc(newAs[C, store.Store](s))
}

// newAs returns s.New as the factory of a plugin whose component is a T.
func newAs[C, T any](s Suite[C]) func(ctx context.Context, cfg *C) (T, error) {
	return func(ctx context.Context, cfg *C) (T, error) {
		x, err := s.New(ctx, *cfg)
		if err != nil {
			var zero T
			return zero, err
		}
		return x.(T), nil
	}
}

// Bridge runs the conformance suite through the plugin bridge within this
// process, as the plugin's binary serves its component.
func (s Suite[C]) Bridge(t *testing.T) {
	p := s.plugin()
	s.run(t, func(t *testing.T, cfg C) any {
		c, err := plugin.TestClient(t, p, plugin.WithSettings(settings(t, cfg)), plugin.WithLogger(s.logger(t)))
		if err != nil {
			t.Fatalf("plugin.TestClient: %v", err)
		}
		var x any
		switch s.Kind {
		case plugin.KindBroker:
			x = c.Broker()
		case plugin.KindRegistry:
			x = c.Registry()
		default:
			x = c.Store()
		}
		closeWhenDone(t, x)
		return x
	})
}

// open starts the binary at path, whose SHA-256 is sum, with settings.
func (s Suite[C]) open(t *testing.T, path string, sum []byte, settings []byte) (any, error) {
	ctx, cancel := context.WithTimeout(t.Context(), openTimeout)
	defer cancel()
	opts := []plugin.Option{plugin.WithSettings(settings), plugin.WithChecksum(sum), plugin.WithLogger(s.logger(t))}
	switch s.Kind {
	case plugin.KindBroker:
		return plugin.OpenBroker(ctx, path, opts...)
	case plugin.KindRegistry:
		return plugin.OpenRegistry(ctx, path, opts...)
	}
	return plugin.OpenStore(ctx, path, opts...)
}

// Binary builds the plugin's command and runs the conformance suite through
// it, out of process; then it checks that the binary refuses the Misspelt
// and Invalid settings.
func (s Suite[C]) Binary(t *testing.T) {
	path, sum := Build(t, s.Command)
	s.run(t, func(t *testing.T, cfg C) any {
		x, err := s.open(t, path, sum, settings(t, cfg))
		if err != nil {
			t.Fatalf("plugin.Open%s: %v", title(s.Kind), err)
		}
		closeWhenDone(t, x)
		return x
	})

	t.Run("bad setting", func(t *testing.T) {
		_, err := s.open(t, path, sum, []byte(s.Misspelt))
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != s.MisspeltField {
			t.Errorf("Open%s with a misspelt setting = %v, want a *plugin.SettingsError naming it", title(s.Kind), err)
		}
	})
	if s.Invalid == "" {
		return
	}
	t.Run("invalid setting", func(t *testing.T) {
		_, err := s.open(t, path, sum, []byte(s.Invalid))
		if err == nil || !containsAll(err.Error(), s.InvalidWants...) {
			t.Errorf("Open%s with %s = %v, want an error naming %s", title(s.Kind), s.Invalid, err, strings.Join(s.InvalidWants, ", "))
		}
	})
}

func title(k plugin.Kind) string {
	if k == "" {
		return ""
	}
	return strings.ToUpper(string(k[:1])) + string(k[1:])
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
