package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"testing"

	"github.com/seedmicro/micro/core/broker"
	brokermemory "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store"
	storememory "github.com/seedmicro/micro/core/store/memory"
)

// The whole main of a plugin binary, micro-plugin-broker-memory.
func ExampleServe() {
	main := func() {
		plugin.Serve(plugin.Broker(brokermemory.New()))
	}
	_ = main
}

// The whole main of a plugin binary configured by its settings: the host's
// settings are decoded strictly into Config before the function runs.
func ExampleBrokerFunc() {
	type Config struct {
		QueueSize int `json:"queue_size"`
	}
	main := func() {
		plugin.Serve(plugin.BrokerFunc(func(ctx context.Context, cfg *Config) (broker.Broker, error) {
			return brokermemory.New(brokermemory.WithQueueSize(cfg.QueueSize)), nil
		}))
	}
	_ = main
}

// A service opens a plugin binary installed with a pinned checksum, and uses
// what it serves as any broker.
func ExampleOpenBroker() {
	ctx := context.Background()
	sum := []byte{ /* the SHA-256 checksum pinned at install time */ }
	b, err := plugin.OpenBroker(ctx, "/var/lib/micro/plugins/micro-plugin-broker-rabbitmq",
		plugin.WithSettings([]byte(`{"url": "amqp://localhost:5672"}`)),
		plugin.WithChecksum(sum),
		plugin.WithLogger(slog.Default()))
	var se *plugin.SettingsError
	switch {
	case errors.As(err, &se):
		log.Fatalf("fix the settings of the broker: %v", se)
	case err != nil:
		log.Fatal(err)
	}
	defer b.Close(ctx)
	// b is a broker.Broker.
}

// A host opens an installed plugin by name from the plugin directory; the
// checksum comes from the directory's lock file (package resolve does
// this, and checks the project's lock file too), and is looked up again
// before every restart.
func ExampleManager() {
	ctx := context.Background()
	lookup := func(ctx context.Context, name string) ([]byte, error) {
		return nil, errors.New("read it from the lock file, e.g. with pluginlock")
	}
	m := plugin.NewManager("" /* plugin.DefaultDir */, plugin.WithChecksumFunc(lookup))
	defer m.Close()
	c, err := m.Open(ctx, "broker/rabbitmq", plugin.WithSettings([]byte(`{"url": "amqp://localhost:5672"}`)))
	switch {
	case errors.Is(err, plugin.ErrNotInstalled):
		log.Fatalf("%v: install it with `micro-new install broker/rabbitmq`", err)
	case err != nil:
		log.Fatal(err)
	}
	b := c.Broker() // a broker.Broker
	if err := b.Publish(ctx, "greeted", &broker.Message{Body: []byte("hi")}); errors.Is(err, plugin.ErrRestarting) {
		// The plugin crashed and is being started again: try later.
	}
}

// TestClient runs an implementation through the bridge, without a plugin
// process, in a test.
func ExampleTestClient() {
	testStore := func(t *testing.T) {
		c, err := plugin.TestClient(t, plugin.Store(storememory.New()))
		if err != nil {
			t.Fatal(err)
		}
		s := c.Store() // a store.Store; storetest.Run(t, ...) could take it
		if err := s.Write(t.Context(), &store.Record{Key: "greeting", Value: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Read(missing) = %v, want store.ErrNotFound", err)
		}
	}
	_ = testStore
}

// A plugin rejects settings it does not know, and the host learns which
// field is at fault.
func ExampleSettingsError() {
	err := error(&plugin.SettingsError{Plugin: "broker/rabbitmq", Field: "adress", Reason: "unknown field (known fields: address, queue)"})
	var se *plugin.SettingsError
	if errors.As(err, &se) {
		fmt.Println(se.Field)
	}
	fmt.Println(err)
	// Output:
	// adress
	// plugin broker/rabbitmq settings: field "adress": unknown field (known fields: address, queue)
}
