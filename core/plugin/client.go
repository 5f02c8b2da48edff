package plugin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// Client is the host side of one plugin: a running plugin process (or, from
// TestClient, an in-process server) and the connection to it. It hands out
// the implementation the plugin serves, as a BrokerClient, RegistryClient or
// StoreClient, by its kind.
//
// One Client serves one implementation, and Close ends both: closing the
// implementation (BrokerClient.Close, RegistryClient.Close or
// StoreClient.Close) closes the Client, and closing the Client closes the
// implementation.
type Client struct {
	kind Kind
	name string
	log  *slog.Logger

	// conn is the connection to the plugin process of the moment; the
	// typed clients load it for every call, so that a restarted process
	// can take the place of one that died.
	conn atomic.Pointer[conn]
	// launch starts a plugin process, configured, and connects to it:
	// Open calls it once; a supervisor may call it again to replace a
	// process that died. Nil for TestClient.
	launch func(ctx context.Context) (*conn, error)

	closed atomic.Bool

	registry *RegistryClient
	broker   *BrokerClient
	store    *StoreClient
}

// conn is one connection to one plugin process (or in-process server), and
// the gRPC clients of its services.
type conn struct {
	cc *grpc.ClientConn
	// exited ends when the plugin process exits (for TestClient, when the
	// in-process server stops).
	exited context.Context
	// stop ends the plugin: it asks the process to exit and kills it if
	// it does not, or stops the in-process server. It is safe to call
	// more than once.
	stop func()

	registry pluginpb.RegistryClient
	broker   pluginpb.BrokerClient
	store    pluginpb.StoreClient
}

func newConn(ch *channel, stop func()) *conn {
	return &conn{
		cc:       ch.cc,
		exited:   ch.exited,
		stop:     stop,
		registry: pluginpb.NewRegistryClient(ch.cc),
		broker:   pluginpb.NewBrokerClient(ch.cc),
		store:    pluginpb.NewStoreClient(ch.cc),
	}
}

// Open starts the plugin binary at path, which must serve kind, and
// configures it with the settings given by WithSettings. It returns once the
// plugin is ready for calls.
//
// The binary is started through hashicorp/go-plugin: after its checksum is
// verified (WithChecksum), with the magic cookie of Handshake in its
// environment, speaking gRPC only, over a connection authenticated both ways
// by mutual TLS with certificates made for this launch. Its log lines and
// whatever else it writes to standard output and error go to the logger of
// WithLogger.
//
// ctx bounds the start and the configuration, not the life of the plugin:
// the plugin runs until Close. Open fails with ErrChecksumMismatch (nothing
// started), a *SettingsError (the plugin rejected its settings), or an error
// that says what else went wrong; it leaves no process behind.
func Open(ctx context.Context, path string, kind Kind, opts ...Option) (*Client, error) {
	if !kind.valid() {
		return nil, fmt.Errorf("plugin: unknown kind %q; want broker, registry or store", kind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	name := o.name
	if name == "" {
		name = nameFromPath(path)
	}
	c := newClient(kind, name, o.logger.With("plugin", name))
	c.launch = func(ctx context.Context) (*conn, error) {
		return launch(ctx, path, c.kind, c.name, c.log, o)
	}
	cn, err := c.launch(ctx)
	if err != nil {
		return nil, err
	}
	c.conn.Store(cn)
	return c, nil
}

// launch starts the plugin binary at path, connects to it and configures
// it. On failure it leaves no process behind.
func launch(ctx context.Context, path string, kind Kind, name string, logger *slog.Logger, o *options) (*conn, error) {
	timeout := o.startTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	cmd := exec.Command(path)
	cmd.Env = []string{envLogLevel + "=" + minLevel(logger).String()}
	var secure *goplugin.SecureConfig
	if o.checksum != nil {
		secure = &goplugin.SecureConfig{Checksum: o.checksum, Hash: sha256.New()}
	}
	pc := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: pluginSets(kind, nil),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     timeout,
		Logger:           newHCLogAdapter(logger),
		SyncStdout:       &lineLogger{l: logger, level: slog.LevelInfo, attrs: []any{"stream", "stdout"}},
		SyncStderr:       &lineLogger{l: logger, level: slog.LevelWarn, attrs: []any{"stream", "stderr"}},
	})

	type started struct {
		ch  *channel
		err error
	}
	done := make(chan started, 1)
	go func() {
		rpc, err := pc.Client()
		if err != nil {
			done <- started{err: err}
			return
		}
		raw, err := rpc.Dispense(string(kind))
		if err != nil {
			done <- started{err: err}
			return
		}
		done <- started{ch: raw.(*channel)}
	}()
	var ch *channel
	select {
	case s := <-done:
		if s.err != nil {
			pc.Kill()
			if errors.Is(s.err, goplugin.ErrChecksumsDoNotMatch) {
				return nil, &wrapError{
					msg: fmt.Sprintf("plugin %s: checksum mismatch: %s does not have the SHA-256 checksum %x; not started", name, path, o.checksum),
					err: ErrChecksumMismatch,
				}
			}
			return nil, fmt.Errorf("plugin %s: start %s: %w", name, path, s.err)
		}
		ch = s.ch
	case <-ctx.Done():
		go func() {
			<-done
			pc.Kill()
		}()
		return nil, ctx.Err()
	}

	cn := newConn(ch, pc.Kill)
	if err := configure(ctx, cn.cc, kind, name, o.settings); err != nil {
		cn.stop()
		return nil, err
	}
	return cn, nil
}

// TestClient connects p to a Client in this process, through a real gRPC
// connection over a unix socket but without a plugin process, and
// configures it with the settings of WithSettings. It is meant for tests:
// it is the fastest way to run a plugin's implementation through the
// bridge. The connection ends when the test does, if not closed before;
// either way the implementation is then closed, as Serve closes it when
// the host is done.
//
// It fails t if the connection cannot be set up; errors of the plugin, such
// as a *SettingsError, are returned.
func TestClient(t testing.TB, p Plugin, opts ...Option) (*Client, error) {
	t.Helper()
	srv := newServer(p)
	o := newOptions(opts)
	name := o.name
	if name == "" {
		name = string(p.kind) + "/test"
	}
	logger := o.logger.With("plugin", name)

	gc, gs := goplugin.TestPluginGRPCConn(t, false, pluginSets(p.kind, srv)[ProtocolVersion])
	stop := sync.OnceFunc(func() {
		// Close asks the server to stop; wait for it, then close the
		// implementation as Serve does.
		_ = gc.Close()
		select {
		case <-gs.DoneCh:
		case <-time.After(shutdownTimeout):
			gs.Stop()
		}
		srv.shutdown()
	})
	t.Cleanup(stop)
	raw, err := gc.Dispense(string(p.kind))
	if err != nil {
		stop()
		t.Fatalf("plugin: TestClient: %v", err)
	}
	ch := raw.(*channel)
	exited, cancel := context.WithCancel(context.Background())
	ch.exited = exited
	cn := newConn(ch, func() { stop(); cancel() })
	if err := configure(t.Context(), cn.cc, p.kind, name, o.settings); err != nil {
		cn.stop()
		return nil, err
	}
	c := newClient(p.kind, name, logger)
	c.conn.Store(cn)
	return c, nil
}

func newClient(kind Kind, name string, logger *slog.Logger) *Client {
	c := &Client{kind: kind, name: name, log: logger}
	switch kind {
	case KindRegistry:
		c.registry = &RegistryClient{c: c}
	case KindBroker:
		c.broker = newBrokerClient(c)
	case KindStore:
		c.store = &StoreClient{c: c}
	}
	return c
}

// configure sends the settings to the plugin at the other end of cc.
func configure(ctx context.Context, cc *grpc.ClientConn, kind Kind, name string, settings []byte) error {
	resp, err := pluginpb.NewPluginClient(cc).Configure(ctx, &pluginpb.ConfigureRequest{
		Kind:     string(kind),
		Settings: settings,
	})
	if err != nil {
		return fmt.Errorf("plugin %s: configure: %w", name, fromStatus(ctx, err, nil, name))
	}
	if se := resp.SettingsError; se != nil {
		return &SettingsError{Plugin: name, Field: se.Field, Reason: se.Reason}
	}
	return nil
}

// nameFromPath returns the plugin name of a binary: <kind>/<name> for
// micro-plugin-<kind>-<name>, else the file name.
func nameFromPath(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".exe")
	if rest, ok := strings.CutPrefix(base, "micro-plugin-"); ok {
		if kind, name, ok := strings.Cut(rest, "-"); ok && Kind(kind).valid() && name != "" {
			return kind + "/" + name
		}
	}
	return base
}

// Kind returns the kind of the plugin.
func (c *Client) Kind() Kind { return c.kind }

// Name returns the plugin's name, as it appears in logs and errors.
func (c *Client) Name() string { return c.name }

// Broker returns the broker the plugin serves, or nil if it serves another
// kind.
func (c *Client) Broker() *BrokerClient { return c.broker }

// Registry returns the registry the plugin serves, or nil if it serves
// another kind.
func (c *Client) Registry() *RegistryClient { return c.registry }

// Store returns the store the plugin serves, or nil if it serves another
// kind.
func (c *Client) Store() *StoreClient { return c.store }

// closeTimeout bounds the closing of a broker by Client.Close.
const closeTimeout = 10 * time.Second

// Close closes the implementation and stops the plugin: it asks the plugin
// process to exit and kills it if it has not within two seconds. A broker
// is closed first, as by BrokerClient.Close with a timeout of ten seconds.
// Calls made after Close fail with ErrClosed (broker.ErrClosed for a
// broker). Closing again does nothing.
func (c *Client) Close() error {
	if c.broker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		return c.broker.Close(ctx)
	}
	c.shutdown()
	return nil
}

// shutdown marks c closed and stops the plugin.
func (c *Client) shutdown() {
	c.closed.Store(true)
	c.conn.Load().stop()
}

// OpenBroker opens the broker plugin at path: Open with KindBroker, then
// Client.Broker. Closing the broker stops the plugin.
func OpenBroker(ctx context.Context, path string, opts ...Option) (*BrokerClient, error) {
	c, err := Open(ctx, path, KindBroker, opts...)
	if err != nil {
		return nil, err
	}
	return c.broker, nil
}

// OpenRegistry opens the registry plugin at path: Open with KindRegistry,
// then Client.Registry. Closing the registry stops the plugin.
func OpenRegistry(ctx context.Context, path string, opts ...Option) (*RegistryClient, error) {
	c, err := Open(ctx, path, KindRegistry, opts...)
	if err != nil {
		return nil, err
	}
	return c.registry, nil
}

// OpenStore opens the store plugin at path: Open with KindStore, then
// Client.Store. Closing the store stops the plugin.
func OpenStore(ctx context.Context, path string, opts ...Option) (*StoreClient, error) {
	c, err := Open(ctx, path, KindStore, opts...)
	if err != nil {
		return nil, err
	}
	return c.store, nil
}
