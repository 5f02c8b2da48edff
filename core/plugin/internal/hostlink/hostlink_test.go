//go:build unix

package hostlink_test

import (
	"bufio"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The material New writes is the first line the plugin's end reads, and
// closing the host's end is end of file there.
func TestNewWritesMaterial(t *testing.T) {
	l, err := hostlink.New([]byte(`{"cert":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.FileConn(l.Child)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.CloseChildEnd()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || line != "{\"cert\":\"x\"}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	l.Conn.Close()
	if _, err := r.ReadByte(); err == nil {
		t.Error("read after the host closed its end succeeded, want end of file")
	}
}

// Open without the variable is no link; with a bad one, an error naming it.
func TestOpen(t *testing.T) {
	t.Setenv(hostlink.EnvHostLink, "")
	if p, err := hostlink.Open(); err == nil || p != nil {
		t.Errorf("Open with %s empty = %v, %v; want an error", hostlink.EnvHostLink, p, err)
	}
	t.Setenv(hostlink.EnvHostLink, "1")
	if _, err := hostlink.Open(); err == nil {
		t.Errorf("Open with %s=1 succeeded, want an error", hostlink.EnvHostLink)
	}
}

func TestNilLinkIsNoLink(t *testing.T) {
	var l *hostlink.Host
	l.CloseChildEnd()
	l.Close()
}
