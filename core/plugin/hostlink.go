package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// The host link is a socket pair between a host and each plugin process it
// starts (on Unix). The host writes the plugin's TLS material to it, one
// line of JSON (mtls.go), and keeps its end open for as long as the process
// runs; the plugin reads the line, then reads on, the frames of the data
// link (datalink.go): end of file means that the host is gone, however it
// died, since the kernel closes a dead process's files. The plugin then
// exits (see watchHost). The environment tells the plugin which descriptor
// the link is. A plugin also takes a pipe there, from a host before the
// data link, and then only watches it.
const (
	// envHostLink is the descriptor of the host link in the plugin.
	envHostLink = "MICRO_PLUGIN_HOST_LINK"
	// envExeFD is the descriptor of the plugin's own binary, through
	// which the host started it (exec_linux.go): the plugin closes it.
	envExeFD = "MICRO_PLUGIN_EXE_FD"
)

// hostLink is the host's side of the link to one plugin process.
type hostLink struct {
	r    *os.File // the plugin's end, closed in the host once it started
	host net.Conn // the host's end, closed once the process exited
}

// newHostLink makes a link and writes material to it. The socket buffer
// holds it until the plugin reads it.
func newHostLink(material []byte) (*hostLink, error) {
	r, host, err := socketPair()
	if err != nil {
		return nil, err
	}
	if _, err := host.Write(append(material, '\n')); err != nil {
		r.Close()
		host.Close()
		return nil, err
	}
	return &hostLink{r: r, host: host}, nil
}

func (l *hostLink) closeChildEnd() {
	if l != nil {
		l.r.Close()
	}
}

func (l *hostLink) close() {
	if l != nil {
		l.r.Close()
		l.host.Close()
	}
}

// pluginLink is the plugin's side of the link: the TLS material the host
// sent, and the rest of the link, which is the data link (datalink.go) when
// the link is a socket.
type pluginLink struct {
	material []byte
	rest     *bufio.Reader
	conn     net.Conn // nil if the link is not a socket (a host before the data link)
}

// openPluginLink reads the TLS material from the host link, if the host
// made one. It closes the descriptor of the binary that the host may have
// left open, and removes both variables from the environment, so that the
// plugin's own child processes do not see them.
func openPluginLink() (*pluginLink, error) {
	if v, ok := os.LookupEnv(envExeFD); ok {
		os.Unsetenv(envExeFD)
		if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
			os.NewFile(uintptr(fd), "exe").Close()
		}
	}
	v, ok := os.LookupEnv(envHostLink)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(envHostLink)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a file descriptor", envHostLink, v)
	}
	f := os.NewFile(uintptr(fd), "host-link")
	var (
		src  io.Reader = f
		conn net.Conn
	)
	// Only a socket is the data link. (net.FileConn is not the test: on
	// a pipe it fails, but leaves it non-blocking.)
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.FileConn(f); err == nil {
			f.Close() // FileConn made its own descriptor
			src, conn = c, c
		}
	}
	r := bufio.NewReader(src)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read the host link: %w", err)
	}
	return &pluginLink{material: line[:len(line)-1], rest: r, conn: conn}, nil
}

// Intervals of watchHost.
const (
	parentPollInterval = 500 * time.Millisecond
	// orphanShutdown bounds the closing of the implementation once the
	// host is gone: the plugin exits within it.
	orphanShutdown = 2 * time.Second
)

// watchHost exits the process when the host is gone: when the host link
// ends (link may be nil), or when the parent process changes (the plugin was
// reparented, to init or to a subreaper). On Linux the host also asks the
// kernel to kill the plugin when it dies (exec_linux.go); this watch is for
// every other way. Before exiting, it closes the implementation, for up to
// orphanShutdown.
func watchHost(link *pluginLink, srv *server) {
	gone := make(chan string, 2)
	if link != nil {
		go func() {
			if d := srv.data.Load(); d == nil {
				if _, err := io.Copy(io.Discard, link.rest); err != nil {
					slog.Error("plugin host link", "error", err)
				}
			} else if err := serveData(d, link.rest, srv); err != nil {
				slog.Error("plugin data link", "error", err)
			}
			gone <- "the host link closed"
		}()
	}
	go func() {
		// A parent of 1 from the start is a host that is the init of
		// its container, not a host that is gone.
		ppid := os.Getppid()
		t := time.NewTicker(parentPollInterval)
		defer t.Stop()
		for range t.C {
			if p := os.Getppid(); p != ppid {
				gone <- fmt.Sprintf("the parent process changed from %d to %d", ppid, p)
				return
			}
		}
	}()
	reason := <-gone
	slog.Warn("the host is gone; the plugin exits", "reason", reason)
	done := make(chan struct{})
	go func() {
		srv.shutdown()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), orphanShutdown)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
	}
	os.Exit(3)
}
