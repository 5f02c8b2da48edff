// Package plugin runs a registry, broker or store implementation in a
// process of its own and uses it from a service as if it were compiled in.
// It is the bridge between the two over hashicorp/go-plugin and gRPC: the
// protocol (proto/plugin.proto), the plugin side (Serve) and the host side
// (Open), in one package.
//
// # Plugin side
//
// A plugin binary serves one implementation of one core interface, and its
// main is one call:
//
//	func main() { plugin.Serve(plugin.Broker(memory.New())) }
//
// A plugin configured by settings gives a function of its own configuration
// struct instead; the host's settings, a JSON document, are decoded into it
// strictly (see DecodeSettings), so that a misspelt field is an error that
// names it rather than a setting silently ignored:
//
//	type Config struct {
//		Address string `json:"address"`
//	}
//
//	func main() {
//		plugin.Serve(plugin.BrokerFunc(func(ctx context.Context, cfg *Config) (broker.Broker, error) {
//			return rabbitmq.New(ctx, cfg.Address)
//		}))
//	}
//
// # Host side
//
// Open (or OpenBroker, OpenRegistry, OpenStore) starts a plugin binary and
// returns the implementation it serves, as a BrokerClient, RegistryClient or
// StoreClient: a broker.Broker, registry.Registry or store.Store that behaves
// as the implementation does in process, down to its errors (errors.Is
// matches broker.ErrClosed, registry.ErrNotFound, store.ErrNotFound and
// registry.ErrWatcherStopped; other errors keep their message). The core
// conformance suites pass through the bridge.
//
//	b, err := plugin.OpenBroker(ctx, "/plugins/micro-plugin-broker-rabbitmq",
//		plugin.WithSettings([]byte(`{"address": "amqp://localhost"}`)),
//		plugin.WithChecksum(sum),
//		plugin.WithLogger(logger))
//	if err != nil { ... }
//	defer b.Close(ctx)
//
// The plugin process runs until the implementation is closed. Its channel
// is gRPC over a unix socket, authenticated both ways with mutual TLS; its
// logs go to the host's slog.Logger, tagged with the plugin's name.
//
// TestClient connects a Plugin to a Client within one process, for tests.
//
// # Lifecycle
//
//  1. Open verifies the binary's checksum (WithChecksum), then starts it.
//  2. go-plugin handshakes: magic cookie, ProtocolVersion, gRPC, mutual TLS.
//  3. The host calls Plugin.Configure with the settings; the plugin decodes
//     them and builds its implementation (or reports a *SettingsError).
//  4. The host calls the service of the plugin's kind.
//  5. Close (of the Client or the implementation) closes the
//     implementation on both sides and stops the process: it is asked to
//     exit, and killed after two seconds if it has not.
package plugin
