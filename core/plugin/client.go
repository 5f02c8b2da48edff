package plugin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
	"github.com/seedmicro/micro/core/plugin/internal/mtls"
	"github.com/seedmicro/micro/core/plugin/internal/spawn"
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
//
// A Client of Open supervises its process: see Open.
type Client struct {
	kind Kind
	name string
	log  *slog.Logger

	// conn is the connection to the plugin process of the moment; the
	// typed clients load it for every call, so that a restarted process
	// can take the place of one that died. While the plugin restarts it
	// is a placeholder whose down error every call returns.
	conn atomic.Pointer[conn]
	// launch starts a plugin process, configured, and connects to it:
	// Open calls it once; the supervisor calls it again to replace a
	// process that died. Nil for TestClient.
	launch func(ctx context.Context) (*conn, error)

	closed atomic.Bool

	// mu guards changed, which is closed and replaced whenever conn is.
	mu      sync.Mutex
	changed chan struct{}

	// The supervisor (supervise.go), for a Client of Open.
	stopSupervisor func()           // stops it and waits for it; safe to call again
	onClose        func()           // set by a Manager
	sockets        *spawn.SocketDir // where the plugin makes its socket; nil in process

	registry *RegistryClient
	broker   *BrokerClient
	store    *StoreClient
}

// conn is one connection to one plugin process (or in-process server), and
// the gRPC clients of its services; or, with down set, the placeholder of a
// plugin that is restarting.
type conn struct {
	cc *grpc.ClientConn
	// exited ends when the plugin process exits (for TestClient, when the
	// in-process server stops).
	exited context.Context
	// stop ends the plugin: it asks the process to exit and kills it if
	// it does not, or stops the in-process server. It is safe to call
	// more than once.
	stop func()
	// kill kills the process at once; nil for TestClient.
	kill func()
	// exitStatus says how the process ended, once exited has ended.
	exitStatus func() string
	pid        int
	addr       net.Addr

	// down is the error of every call while the plugin restarts.
	down error
	// data is the data link of a broker plugin that serves one, for
	// Publish; nil otherwise.
	data *hostData

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

// downConn is the placeholder of a plugin that is restarting.
func downConn(err error) *conn {
	return &conn{down: err, exited: context.Background(), stop: func() {}}
}

// status returns how the process ended, or "" if unknown.
func (cn *conn) status() string {
	if cn.exitStatus == nil {
		return ""
	}
	return cn.exitStatus()
}

// Open starts the plugin binary at path, which must serve kind, and
// configures it with the settings given by WithSettings. It returns once the
// plugin is ready for calls.
//
// Before it starts the binary, Open refuses it (ErrUnsafeBinary) when it is
// writable by group or others, is not a regular file, or its path goes
// through a symbolic link, and verifies its checksum (WithChecksum,
// WithChecksumFunc); on Linux it then starts the very file it hashed, not
// the path (see the package documentation). The binary runs through
// hashicorp/go-plugin, with the magic cookie of Handshake in its
// environment, speaking gRPC only, over a unix socket authenticated both
// ways by mutual TLS with certificates made for this launch. Its log lines
// and whatever else it writes to standard output and error go to the logger
// of WithLogger.
//
// The Client supervises the process until Close. It checks its health
// (WithHealthCheck). When the process dies, or stops answering, calls in
// flight and calls made until it is back fail at once with an error that
// matches ErrRestarting ("plugin broker/x crashed; restarting"), and the
// Client starts it again, verified again, after a back-off of 50 ms that
// doubles up to 5 s, jittered; later calls reach the new process. A
// broker's subscriptions subscribe again on the new process; a registry's
// watches end with the ErrRestarting error, for the caller to watch again.
// The process is killed when the host dies, even by SIGKILL (on Linux, by
// the kernel; elsewhere the plugin watches its host).
//
// ctx bounds the start and the configuration, not the life of the plugin:
// the plugin runs until Close. Open fails with ErrChecksumMismatch or
// ErrUnsafeBinary (nothing started), a *SettingsError (the plugin rejected
// its settings), or an error that says what else went wrong; it leaves no
// process behind.
func Open(ctx context.Context, path string, kind Kind, opts ...Option) (*Client, error) {
	if !kind.Valid() {
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
	sockets, err := spawn.NewSocketDir()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", name, err)
	}
	c := newClient(kind, name, o.logger.With("plugin", name))
	c.sockets = sockets
	c.launch = func(ctx context.Context) (*conn, error) {
		sockets.Clear() // the socket of a process that died
		return launch(ctx, path, c.kind, c.name, c.log, o, sockets.Path())
	}
	cn, err := c.launch(ctx)
	if err != nil {
		sockets.Remove()
		return nil, err
	}
	c.conn.Store(cn)
	c.supervise(o.healthInterval)
	return c, nil
}

// launch starts the plugin binary at path, connects to it and configures
// it. On failure it leaves no process behind.
//
// The plugin makes its unix socket in sockDir, unless it is "".
func launch(ctx context.Context, path string, kind Kind, name string, logger *slog.Logger, o *options, sockDir string) (*conn, error) {
	timeout := o.startTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	pin := o.pin
	if o.pinFunc != nil {
		p, err := o.pinFunc(ctx, name)
		if err != nil {
			return nil, err
		}
		pin = &p
	}
	if pin != nil {
		if err := pin.Check(); err != nil {
			return nil, fmt.Errorf("plugin %s: %w; not started", name, err)
		}
	}
	bin, err := spawn.OpenBinary(path)
	if err != nil {
		if errors.Is(err, ErrUnsafeBinary) {
			return nil, &wrapError{msg: fmt.Sprintf("plugin %s: refusing to start %s: %v", name, path, err), err: err}
		}
		return nil, fmt.Errorf("plugin %s: start %s: %w", name, path, err)
	}
	defer bin.Close()
	if err := verify(bin, name, path, pin); err != nil {
		return nil, err
	}

	var (
		hostTLS *tls.Config
		link    *hostlink.Host
	)
	if hostlink.Supported {
		var material []byte
		if hostTLS, material, err = mtls.NewLaunch(); err != nil {
			return nil, fmt.Errorf("plugin %s: TLS certificates: %w", name, err)
		}
		if link, err = hostlink.New(material); err != nil {
			return nil, fmt.Errorf("plugin %s: host link: %w", name, err)
		}
	}
	var child *os.File
	if link != nil {
		child = link.Child
	}
	cmd, release, err := spawn.Command(bin, path, child)
	if err != nil {
		link.Close()
		return nil, fmt.Errorf("plugin %s: start %s: %w", name, path, err)
	}
	// The host's environment, then what the host sets for the plugin,
	// which wins over it (go-plugin, left to add the host's environment,
	// would add it after, and it would win).
	cmd.Env = append(os.Environ(), cmd.Env...)
	cmd.Env = append(cmd.Env, envLogLevel+"="+minLevel(logger).String())
	if sockDir != "" {
		cmd.Env = append(cmd.Env, spawn.EnvSocketDir+"="+sockDir)
	}
	if o.procs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(o.procs))
	}
	if o.gcPercent > 0 {
		cmd.Env = append(cmd.Env, "GOGC="+strconv.Itoa(o.gcPercent))
	}
	hclogger := newHCLogAdapter(logger)
	if cmd.Path != path {
		hclogger.exe, hclogger.path = cmd.Path, path
	}
	pc := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: pluginSets(kind, nil),
		Cmd:              cmd,
		SkipHostEnv:      true, // in cmd.Env already
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		TLSConfig:        hostTLS,
		AutoMTLS:         hostTLS == nil,
		StartTimeout:     timeout,
		Logger:           hclogger,
		SyncStdout:       &lineLogger{l: logger, level: slog.LevelInfo, attrs: []any{"stream", "stdout"}},
		SyncStderr:       &lineLogger{l: logger, level: slog.LevelWarn, attrs: []any{"stream", "stderr"}},
	})

	type started struct {
		ch   *channel
		addr net.Addr
		err  error
	}
	done := make(chan started, 1)
	go func() {
		// The kernel kills the plugin when the thread that starts it
		// ends (Pdeathsig, internal/spawn). The Go runtime ends a thread
		// when a goroutine locked to it exits without unlocking: this
		// goroutine keeps the thread for itself while the plugin runs,
		// so that no other goroutine can lock it and end it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer link.Close()
		rpc, err := pc.Client()
		release()
		link.CloseChildEnd()
		if err != nil {
			done <- started{err: err}
			return
		}
		raw, err := rpc.Dispense(string(kind))
		if err != nil {
			done <- started{err: err}
			pc.Kill()
			return
		}
		ch := raw.(*channel)
		var addr net.Addr
		if rc := pc.ReattachConfig(); rc != nil {
			addr = rc.Addr
		}
		done <- started{ch: ch, addr: addr}
		<-ch.exited.Done()
	}()
	var s started
	select {
	case s = <-done:
		if s.err != nil {
			pc.Kill()
			return nil, fmt.Errorf("plugin %s: start %s: %w", name, path, s.err)
		}
	case <-ctx.Done():
		go func() {
			<-done
			pc.Kill()
		}()
		return nil, ctx.Err()
	}

	cn := newConn(s.ch, pc.Kill)
	cn.addr = s.addr
	if p := cmd.Process; p != nil {
		cn.pid = p.Pid
		cn.kill = func() { _ = p.Kill() }
	}
	cn.exitStatus = func() string {
		if ps := cmd.ProcessState; ps != nil {
			return ps.String()
		}
		return ""
	}
	if err := configure(ctx, cn.cc, kind, name, o.settings); err != nil {
		cn.stop()
		return nil, err
	}
	if link != nil && kind == KindBroker {
		cn.data = readHello(link.Conn, logger)
	}
	logger.Debug("plugin started", "path", path, "pid", cn.pid)
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
	c := &Client{kind: kind, name: name, log: logger, changed: make(chan struct{}), stopSupervisor: func() {}}
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
		if kind, name, ok := strings.Cut(rest, "-"); ok && Kind(kind).Valid() && name != "" {
			return kind + "/" + name
		}
	}
	return base
}

// Kind returns the kind of the plugin.
func (c *Client) Kind() Kind { return c.kind }

// Name returns the plugin's name, as it appears in logs and errors.
func (c *Client) Name() string { return c.name }

// PID returns the process ID of the plugin process that runs now, or 0
// while the plugin restarts and after Close.
func (c *Client) PID() int {
	cn, err := c.current()
	if err != nil || c.closed.Load() {
		return 0
	}
	return cn.pid
}

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

// shutdown marks c closed, stops the supervisor and then the plugin.
func (c *Client) shutdown() {
	c.closed.Store(true)
	c.stopSupervisor()
	c.conn.Load().stop()
	c.sockets.Remove()
	if c.onClose != nil {
		c.onClose()
	}
}

// unary makes one call of c's plugin: rpc on the current connection, unless
// c is closed. rpc's error comes back as the implementation's, by
// sentinels, or as an error of the channel that names the plugin.
func unary[R any](ctx context.Context, c *Client, sentinels []sentinel, rpc func(*conn) (R, error)) (R, error) {
	var zero R
	if c.closed.Load() {
		return zero, ErrClosed
	}
	cn, err := c.current()
	if err != nil {
		return zero, err
	}
	resp, err := rpc(cn)
	if err != nil {
		if c.closed.Load() {
			return zero, ErrClosed
		}
		return zero, c.callErr(ctx, cn, err, sentinels)
	}
	return resp, nil
}

// current returns the connection of the moment, or the error of a plugin
// that is restarting.
func (c *Client) current() (*conn, error) {
	cn := c.conn.Load()
	if cn.down != nil {
		return nil, cn.down
	}
	return cn, nil
}

// setConn replaces the connection and wakes those waiting for a change.
func (c *Client) setConn(cn *conn) {
	c.mu.Lock()
	c.conn.Store(cn)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// watchConn returns the connection of the moment and a channel closed when
// it is replaced.
func (c *Client) watchConn() (*conn, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Load(), c.changed
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
