// Package plugin runs a registry, broker or store implementation in a
// process of its own and uses it from a service as if it were compiled in.
// It is the bridge between the two over hashicorp/go-plugin and gRPC: the
// protocol (proto/plugin.proto), the plugin side (Serve) and the host side
// (Open), in one package.
//
// # Map
//
// This package is the public face: Serve, Open, Manager, the kind adapters
// (Broker, Registry, Store and their Func forms), options and errors, with
// the gRPC service and the data link's batching around them. Below it, each
// a package named for its job:
//
//   - lock: the plugin directory (DefaultDir), binary names, the kind/name
//     pattern, micro.lock and its format, hashing of an opened file, and
//     the rule a plugin's path must pass (CheckInfo), shared with
//     `micro-new verify`. It is public: the installer uses it.
//   - spec: the kinds, BinaryName, strict settings decoding (DecodeSettings,
//     SettingsError) and ErrNotInstalled/ErrChecksumMismatch, re-exported
//     here. It imports neither go-plugin nor gRPC, so package resolve
//     describes plugins through it and links this package only in builds
//     without the micro_noplugins tag.
//   - internal/spawn: opens a binary without following links, checks it
//     and every directory above it, starts the very file it opened, names
//     the plugin's process, and keeps the private directory of its socket.
//   - internal/hostlink: the socket pair to each plugin process, which
//     carries the TLS material and then the data link.
//   - internal/mtls: the certificates of one launch.
//   - internal/wire: the data link's frames, the writer that gathers
//     concurrent frames into one write, and the hand-written codec of
//     publish calls and deliveries.
//   - proto: the protocol, generated.
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
// A Manager opens plugins by name from the plugin directory (DefaultDir:
// $MICRO_PLUGIN_DIR, else the user's data directory), where `micro-new
// install` puts them, and starts only binaries whose checksum it can
// verify: it reads the pin from the directory's lock file before every
// launch, and with WithProjectDir checks it against the project's lock. A
// service rarely uses it directly, but through package resolve:
//
//	m := plugin.NewManager(dir, plugin.WithProjectDir(wd), plugin.WithLogger(logger))
//	c, err := m.Open(ctx, "broker/rabbitmq", plugin.WithSettings(settings))
//	if err != nil { ... }
//	b := c.Broker() // a broker.Broker
//	defer b.Close(ctx)
//
// Open (or OpenBroker, OpenRegistry, OpenStore) does the same with a
// binary's path. Either returns the implementation the plugin serves, as a
// BrokerClient, RegistryClient or StoreClient: a broker.Broker,
// registry.Registry or store.Store that behaves as the implementation does
// in process, down to its errors (errors.Is matches broker.ErrClosed,
// registry.ErrNotFound, store.ErrNotFound and registry.ErrWatcherStopped;
// other errors keep their message). The core conformance suites pass
// through the bridge.
//
// The plugin process runs until the implementation is closed. Its channel
// is gRPC over a unix socket, authenticated both ways with mutual TLS; its
// logs go to the host's slog.Logger, tagged with the plugin's name.
//
// A broker's Publish, the hot path, takes a shorter way on Unix: the data
// link, a socket pair the plugin inherits at its start, which no other
// process can reach, so it carries length-prefixed protocol buffers with
// neither TLS nor HTTP/2 (internal/wire has the format). The calls made while
// a batch is on its way go together in the next, and in the plugin, the
// calls waiting while a batch is published go together to a broker that
// implements broker.BatchPublisher (a Redis pipeline, JetStream
// asynchronous publishes, RabbitMQ confirms awaited together): at most four
// batches at a time, so that batches grow with the load. Deliveries of
// subscriptions and the host's answers travel on the data link too, in
// batches, tagged with the subscription; subscribing and unsubscribing stay
// on gRPC. A plugin built before the data link is spoken to over gRPC for
// everything. A plugin process runs with GOMAXPROCS 1 and GOGC 400 unless
// WithProcs and WithGCPercent say otherwise (DefaultProcs and
// DefaultGCPercent say why).
//
// TestClient connects a Plugin to a Client within one process, for tests.
//
// # Lifecycle
//
//  1. Before every launch, the first and each restart: the checksum is
//     looked up (a Manager's lock file, or WithChecksum, WithPin,
//     WithChecksumFunc, WithPinFunc), the binary is opened and
//     checked, and what was opened is hashed (see Security). A binary that
//     fails is not started: ErrChecksumMismatch, ErrUnsafeBinary.
//  2. The host makes the launch's TLS certificates, and starts the binary
//     through go-plugin, which handshakes: magic cookie, ProtocolVersion,
//     gRPC, mutual TLS.
//  3. The host calls Plugin.Configure with the settings; the plugin decodes
//     them and builds its implementation (or reports a *SettingsError).
//  4. The host calls the service of the plugin's kind, and checks the
//     process's health (WithHealthCheck; gRPC health, every 5 s by
//     default).
//  5. When the process dies, or fails three health checks in a row and is
//     killed, calls in flight and calls made meanwhile fail at once with an
//     error matching ErrRestarting, "plugin broker/rabbitmq crashed;
//     restarting", and the host starts the plugin again from step 1, after
//     50 ms, doubling up to 5 s, jittered. Once it is back, calls reach it.
//     A broker's subscriptions subscribe again on the new process by
//     themselves; a registry's watches end with the ErrRestarting error,
//     for the caller to watch (and list) again, since it missed what
//     changed meanwhile.
//  6. Close (of the Client or the implementation) closes the
//     implementation on both sides and stops the process: it is asked to
//     exit, and killed after two seconds if it has not.
//
// # Security
//
// Only the host talks to a plugin: the socket is served with mutual TLS,
// and each end accepts only the other's certificate, made by the host for
// the launch (P-256 keys; go-plugin's AutoMTLS makes P-521 keys, each end
// its own, at a cost of some 30 ms per start). The host hands the plugin
// its certificate and key over the host link, a socket pair that only the
// two processes hold, not in the environment; the same link then carries
// the data link.
//
// The binary that runs is the binary that was verified. The host opens
// every component of the binary's path without following symbolic links
// (openat and O_NOFOLLOW), so a path through a link is refused, and so is a
// binary that is not a regular file or that group or others may write, or
// a directory on its path, up to the root, that group or others may write
// (unless it is sticky and owned by root, as /tmp), or any of them owned by
// another user than the host's or root (lock.CheckInfo, the rule `micro-new
// verify` reports on): whoever could write such a directory could rename a
// binary and a lock of their own over the plugin's. It
// hashes the opened file (BLAKE3 when the Pin has that digest, as
// `micro-new install` records it, else SHA-256), and on Linux starts that very file
// (/proc/self/fd/N), not the path, so replacing the path after the check
// changes nothing. What remains is writing into the file itself, which
// takes its owner's rights, the same that rewrite the lock file pinning
// its checksum. (go-plugin's SecureConfig, which hashes the path and then
// starts the path, is not used.) Elsewhere than Linux the binary is started
// from its path right after the check.
//
// The plugin's socket is made in a directory of the host's own, mode 0700
// (<temp>/micro-plugin-<uid>/<pid>-<random>), removed when the Client
// closes; a host that ended without closing leaves it, and the next host
// of the user removes it once that host's process is gone.
//
// # No orphans
//
// A plugin does not outlive its host, however the host ends. On Linux the
// kernel kills the plugin when the host dies (the parent-death signal,
// SIGKILL). That signal follows the thread that started the process rather
// than the process, and the Go runtime ends a thread when a goroutine locked
// to it exits: the host starts each plugin from a goroutine locked to its
// thread for as long as the plugin runs, so that no other goroutine can
// take and end that thread. The plugin also watches its host on its own
// (Serve): the pipe from the host reaches end of file when the host dies,
// and its parent process changes when it is orphaned; either way it closes
// its implementation, for up to two seconds, and exits.
//
// Nor does a plugin end before its host by a SIGTERM sent to the whole
// process group (systemd and timeout do): it leaves the shutdown to the
// host, which stops on the same signal and closes it, and exits on its own
// only if the host has not within TermGrace. A host shutting down so logs
// no crash.
package plugin
