package install

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CoreProtocolVersion is go-plugin's own protocol version, the first field of
// the handshake line.
const CoreProtocolVersion = 1

// HandshakeLine is a parsed go-plugin handshake line:
// CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK-TYPE|NETWORK-ADDR|PROTOCOL[|...].
type HandshakeLine struct {
	Core     int
	App      int
	Network  string
	Addr     string
	Protocol string
}

// ParseHandshake parses a go-plugin handshake line.
func ParseHandshake(line string) (HandshakeLine, error) {
	var h HandshakeLine
	body := strings.TrimRight(line, "\r\n")
	if strings.ContainsAny(body, "\r\n") {
		return h, fmt.Errorf("handshake line %q: want one line", trim(line))
	}
	parts := strings.Split(body, "|")
	if len(parts) < 5 {
		return h, fmt.Errorf("handshake line %q: want CORE|APP|NETWORK|ADDR|PROTOCOL", trim(line))
	}
	var err error
	// strconv's errors quote the whole field: the line, cut, is enough.
	if h.Core, err = strconv.Atoi(parts[0]); err != nil {
		return h, fmt.Errorf("handshake line %q: the core protocol version is not a number", trim(line))
	}
	if h.App, err = strconv.Atoi(parts[1]); err != nil {
		return h, fmt.Errorf("handshake line %q: the app protocol version is not a number", trim(line))
	}
	h.Network, h.Addr, h.Protocol = parts[2], parts[3], parts[4]
	return h, nil
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// checkHandshake starts the binary as a go-plugin host would, reads its
// handshake line, and kills it: nothing but the plugin's start-up runs. It
// returns the negotiated app protocol version, which must be one of protocols.
func (in *Installer) checkHandshake(ctx context.Context, bin string, protocols []int) (int, error) {
	if in.handshake.CookieKey == "" {
		return 0, errors.New("no handshake configured")
	}
	// Unix socket paths are short (about 100 bytes): not under the plugin dir.
	sockDir, err := os.MkdirTemp("", "micro-handshake-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(sockDir)
	vs := make([]string, len(protocols))
	for i, p := range protocols {
		vs[i] = strconv.Itoa(p)
	}
	ctx, cancel := context.WithTimeout(ctx, in.handshakeTimeout)
	defer cancel()

	cmd := exec.Command(bin)
	cmd.Dir = sockDir
	cmd.Env = []string{
		in.handshake.CookieKey + "=" + in.handshake.CookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=" + strings.Join(vs, ","),
		"PLUGIN_UNIX_SOCKET_DIR=" + sockDir,
		"PLUGIN_MIN_PORT=10000",
		"PLUGIN_MAX_PORT=25000",
		"TMPDIR=" + sockDir,
	}
	setProcessGroup(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	stdin, err := cmd.StdinPipe() // held open: a plugin may take EOF as its host's death
	if err != nil {
		return 0, err
	}
	defer stdin.Close()
	stderr := &capped{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReaderSize(stdout, 4096).ReadString('\n')
		lines <- line
	}()
	stop := func() {
		killProcessGroup(cmd)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	}

	var line string
	select {
	case line = <-lines:
	case <-ctx.Done():
		stop()
		return 0, fmt.Errorf("no handshake within %v from %s%s", in.handshakeTimeout, bin, stderr.tail())
	}
	stop()
	if line == "" {
		return 0, fmt.Errorf("%s exited without a go-plugin handshake: it is not a micro plugin, or it failed to start%s", bin, stderr.tail())
	}
	h, err := ParseHandshake(line)
	if err != nil {
		return 0, fmt.Errorf("%w%s", err, stderr.tail())
	}
	if h.Core != CoreProtocolVersion {
		return 0, fmt.Errorf("go-plugin core protocol %d, want %d", h.Core, CoreProtocolVersion)
	}
	if h.Protocol != "grpc" {
		return 0, fmt.Errorf("plugin protocol %q, want grpc", h.Protocol)
	}
	if !slices.Contains(protocols, h.App) {
		return 0, fmt.Errorf("the binary speaks plugin protocol %d, want one of %v", h.App, protocols)
	}
	return h.App, nil
}

// capped keeps the first max bytes written to it.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capped) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.TrimSpace(c.buf.String())
	if s == "" {
		return ""
	}
	return "; it said: " + s
}
