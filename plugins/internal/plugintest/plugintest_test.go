package plugintest_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a testing.TB that records Errorf instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestNoSecret(t *testing.T) {
	tests := []struct {
		name, s string
		caught  bool
	}{
		{"whole", "dial redis://u:My%Secret@h:1: refused", true},
		{"escaped", "redis://u:My%25Secret@h:1", true},
		{"bad escape quoted", `invalid URL escape "%Se"`, true},
		{"masked", "redis://u:xxxxx@h:1: refused", false},
		{"nothing", "connection refused", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			plugintest.NoSecret(r, "output", tt.s)
			if got := len(r.errors) > 0; got != tt.caught {
				t.Errorf("NoSecret(%q) caught %v, want %v (%v)", tt.s, got, tt.caught, r.errors)
			}
		})
	}
}

func TestLogsCapturesJSON(t *testing.T) {
	logs := new(plugintest.Logs)
	logs.Logger().Debug("hello", "n", 1)
	if got := logs.String(); !strings.Contains(got, `"msg":"hello"`) || !strings.Contains(got, `"n":1`) {
		t.Errorf("captured %q", got)
	}
	logs.Reset()
	if got := logs.String(); got != "" {
		t.Errorf("after Reset: %q", got)
	}
}

// echo serves a line-echo server until t ends.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, s string) (string, error) {
	if _, err := c.Write([]byte(s + "\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestProxyForwardsAndCuts(t *testing.T) {
	p := plugintest.NewProxy(t, echo(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "ping"); err != nil || got != "ping\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	p.WaitConns(t, 1)
	if n := p.Cut(); n != 1 {
		t.Errorf("Cut closed %d connections, want 1", n)
	}
	if _, err := roundTrip(c, "again"); err == nil {
		t.Error("a cut connection still answers")
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := roundTrip(c2, "new"); err != nil || got != "new\n" {
		t.Fatalf("a new connection after Cut: %q, %v", got, err)
	}
	p.Kill()
	c3, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer c3.Close()
		if _, err := roundTrip(c3, "refused"); err == nil {
			t.Error("a connection after Kill answers")
		}
	}
}
