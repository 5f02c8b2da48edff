// Package hostlink is the host link: a socket pair between a plugin host
// and each plugin process it starts (on Unix), over which the host hands
// the plugin its TLS material and which then carries the data link. Its
// end of file tells the plugin that the host is gone.
package hostlink

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

// The host link is a socket pair between a host and each plugin process it
// starts (on Unix). The host writes the plugin's TLS material to it, one
// line of JSON (package mtls), and keeps its end open for as long as the
// process runs; the plugin reads the line, then reads on, the frames of the
// data link (package wire): end of file means that the host is gone, however
// it died, since the kernel closes a dead process's files. The plugin then
// exits. The environment tells the plugin which descriptor the link is. A
// plugin also takes a pipe there, from a host before the data link, and
// then only watches it.
const (
	// EnvHostLink is the descriptor of the host link in the plugin.
	EnvHostLink = "MICRO_PLUGIN_HOST_LINK"
	// EnvExeFD is the descriptor of the plugin's own binary, through
	// which the host started it (package spawn): the plugin closes it.
	EnvExeFD = "MICRO_PLUGIN_EXE_FD"
)

// Host is the host's side of the link to one plugin process.
type Host struct {
	Child *os.File // the plugin's end, closed in the host once it started
	Conn  net.Conn // the host's end, closed once the process exited
}

// New makes a link and writes material to it. The socket buffer holds it
// until the plugin reads it.
func New(material []byte) (*Host, error) {
	r, host, err := SocketPair()
	if err != nil {
		return nil, err
	}
	if _, err := host.Write(append(material, '\n')); err != nil {
		r.Close()
		host.Close()
		return nil, err
	}
	return &Host{Child: r, Conn: host}, nil
}

// CloseChildEnd closes the plugin's end, once the plugin has it. A nil
// link is no link.
func (l *Host) CloseChildEnd() {
	if l != nil {
		l.Child.Close()
	}
}

// Close closes both ends. A nil link is no link.
func (l *Host) Close() {
	if l != nil {
		l.Child.Close()
		l.Conn.Close()
	}
}

// Plugin is the plugin's side of the link: the TLS material the host sent,
// and the rest of the link, which is the data link when the link is a
// socket.
type Plugin struct {
	Material []byte
	Rest     *bufio.Reader
	Conn     net.Conn // nil if the link is not a socket (a host before the data link)
}

// Open reads the TLS material from the host link, if the host
// made one. It closes the descriptor of the binary that the host may have
// left open, and removes both variables from the environment, so that the
// plugin's own child processes do not see them.
func Open() (*Plugin, error) {
	if v, ok := os.LookupEnv(EnvExeFD); ok {
		os.Unsetenv(EnvExeFD)
		if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
			os.NewFile(uintptr(fd), "exe").Close()
		}
	}
	v, ok := os.LookupEnv(EnvHostLink)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvHostLink)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a file descriptor", EnvHostLink, v)
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
	return &Plugin{Material: line[:len(line)-1], Rest: r, Conn: conn}, nil
}
