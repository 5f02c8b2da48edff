package plugin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
	"github.com/seedmicro/micro/core/plugin/internal/mtls"
	"github.com/seedmicro/micro/core/plugin/internal/spawn"
)

// Serve serves p to the host that launched this process, and returns when
// the host is done with it, after closing the implementation (when it has a
// Close method, with or without a context). It is meant to be the whole
// main of a plugin binary:
//
//	func main() { plugin.Serve(plugin.Broker(memory.New())) }
//
// Serve takes over the process: it answers the go-plugin handshake on
// standard output, sets slog.Default to a logger whose records reach the
// host's log (at the level the host logs, and no lower), and sends what the
// program writes to os.Stdout and os.Stderr to the host's log too. Started
// by hand rather than by a host, the binary says that it is a plugin and
// exits with status 1.
//
// The plugin does not outlive its host: when the host is gone, however it
// died, the plugin closes the implementation (for up to two seconds) and
// exits, within a second or so. Nor does it end before its host by a
// SIGTERM that reached both, as systemd and timeout send it to a process
// group: it leaves its shutdown to the host, which closes it as it stops,
// and only exits on its own if the host has not within TermGrace.
func Serve(p Plugin) {
	srv := newServer(p)
	link, err := hostlink.Open()
	if err != nil {
		fmt.Fprintf(os.Stderr, "plugin: %v\n", err)
		os.Exit(1)
	}
	spawn.NameProcess(MagicCookieKey)
	level := pluginLogLevel()
	// go-plugin replaces os.Stderr once it serves; these keep the real one,
	// which the host reads log lines from.
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	slog.SetDefault(slog.New(newPluginSlogHandler(os.Stderr, level)))

	cfg := &goplugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: pluginSets(p.kind, srv),
		GRPCServer:       newGRPCServer,
		Logger:           logger,
	}
	if link != nil {
		tlsConfig, err := mtls.Server(link.Material)
		if err != nil {
			fmt.Fprintf(os.Stderr, "plugin: %v\n", err)
			os.Exit(1)
		}
		cfg.TLSProvider = func() (*tls.Config, error) { return tlsConfig, nil }
		if link.Conn != nil {
			if err := sendHello(link.Conn); err != nil {
				fmt.Fprintf(os.Stderr, "plugin: host link: %v\n", err)
				os.Exit(1)
			}
			srv.data.Store(newPluginData(link.Conn))
		}
	}
	if os.Getenv(MagicCookieKey) == MagicCookieValue {
		go watchHost(link, srv)
		go deferTerm(srv)
	}
	goplugin.Serve(cfg)
	srv.shutdown()
}

// newGRPCServer is the gRPC server of a plugin. Messages may be as large as
// the host sends: the host is the only client, authenticated by mutual TLS,
// and a broker in process takes a message of any size.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32))
	return grpc.NewServer(opts...)
}

// pluginSets returns go-plugin's plugin sets by protocol version. On the
// plugin side (srv set) it holds the plugin's kind; on the host side every
// kind, so that the handshake succeeds whatever the binary serves and
// Configure can say what it is.
func pluginSets(kind Kind, srv *server) map[int]goplugin.PluginSet {
	set := goplugin.PluginSet{}
	if srv != nil {
		set[string(kind)] = &grpcPlugin{srv: srv}
	} else {
		for _, k := range Kinds() {
			set[string(k)] = &grpcPlugin{}
		}
	}
	return map[int]goplugin.PluginSet{ProtocolVersion: set}
}

// grpcPlugin is the go-plugin plugin of every kind: on the plugin side it
// registers the services of srv, on the host side it hands over the
// connection to the plugin.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	srv *server // nil on the host
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

// GRPCServer registers the plugin's services.
func (g *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if g.srv == nil {
		return errors.New("plugin: no implementation to serve")
	}
	g.srv.register(s)
	return nil
}

// GRPCClient returns the connection to the plugin and a context that ends
// when the plugin process exits.
func (g *grpcPlugin) GRPCClient(ctx context.Context, _ *goplugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &channel{cc: cc, exited: ctx}, nil
}

// channel is what the host gets from go-plugin for a plugin.
type channel struct {
	cc     *grpc.ClientConn
	exited context.Context
}

// TermGrace is how long a plugin that got SIGTERM waits for its host to
// close it before it closes its implementation and exits on its own.
const TermGrace = 5 * time.Second

// deferTerm leaves a SIGTERM to the host. A SIGTERM sent to the process
// group reaches the host and its plugins at once; a plugin that ended at
// once would look to a host that is shutting down like a crash, and the
// host would restart it while it stops. So the plugin waits for the host
// to close it (which ends the process through Serve) or to die (watchHost),
// for up to TermGrace; a SIGTERM to the plugin alone ends it after that.
func deferTerm(srv *server) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	slog.Debug("SIGTERM: waiting for the host to close the plugin", "grace", TermGrace.String())
	time.Sleep(TermGrace)
	slog.Warn("SIGTERM, and the host has not closed the plugin: it exits", "grace", TermGrace.String())
	exitAfterShutdown(srv, 0)
}

// exitAfterShutdown shuts srv down, for orphanShutdown at most, and ends
// the process with code.
func exitAfterShutdown(srv *server, code int) {
	done := make(chan struct{})
	go func() {
		srv.shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(orphanShutdown):
	}
	os.Exit(code)
}
