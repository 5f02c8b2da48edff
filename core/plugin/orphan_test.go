package plugin_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/plugin"
)

// A host is the test binary run with envHost=<mode>:<serve>. It starts the
// plugin serve, prints "pid <pid of the plugin>" and waits to be killed.
// The modes:
//
//	open  through plugin.Open, as a service does
//	raw   with os/exec and go-plugin's environment only: no parent-death
//	      signal and no host link, so only the plugin's watch of its
//	      parent process can end it
//	link  as raw, plus a host link: the plugin's watch of the link ends it
//
// The raw and link plugins write their standard error to the file in
// envHostStderr.
const envHostStderr = "MICRO_PLUGIN_TEST_HOST_STDERR"

// keep holds the host's end of the host link for the life of the host.
var keep []*os.File

func runHost(spec string) {
	mode, serve, _ := strings.Cut(spec, ":")
	os.Unsetenv(envHost)
	os.Setenv(envServe, serve)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(2)
	}
	switch mode {
	case "open":
		c, err := plugin.Open(context.Background(), os.Args[0], plugin.Kind(serve), plugin.WithLogger(quiet))
		if err != nil {
			fail(err)
		}
		fmt.Printf("pid %d\n", plugin.PID(c))
	case "raw", "link":
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), plugin.MagicCookieKey+"="+plugin.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
		stderr, err := os.Create(os.Getenv(envHostStderr))
		if err != nil {
			fail(err)
		}
		cmd.Stderr = stderr
		if mode == "link" {
			material, err := plugin.LaunchMaterial()
			if err != nil {
				fail(err)
			}
			r, w, err := os.Pipe()
			if err != nil {
				fail(err)
			}
			w.Write(append(material, '\n'))
			keep = append(keep, w)
			cmd.ExtraFiles = []*os.File{r}
			cmd.Env = append(cmd.Env, plugin.EnvHostLink+"=3")
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			fail(err)
		}
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		// The handshake line: the plugin serves.
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			fail(fmt.Errorf("no handshake: %w", err))
		}
		fmt.Printf("pid %d\n", cmd.Process.Pid)
	case "term":
		// As a service does (micro.Run): SIGTERM stops it, and it closes
		// its plugin before it exits.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c, err := plugin.Open(ctx, os.Args[0], plugin.Kind(serve), plugin.WithLogger(logger))
		if err != nil {
			fail(err)
		}
		fmt.Printf("pid %d\n", plugin.PID(c))
		<-ctx.Done()
		if err := c.Close(); err != nil {
			fail(err)
		}
		fmt.Fprintln(os.Stderr, "host: closed")
		return
	default:
		fail(fmt.Errorf("unknown host mode %q", mode))
	}
	select {}
}

// hostCommand returns the command of a host (see runHost) in mode spec,
// with env added to its environment. The race detector of the host does
// not linger at exit, so that a killed host goes at once.
func hostCommand(spec string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envHost+"="+spec,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// launchHost starts cmd, a host, and returns the pid of its plugin, which
// the host prints first, and what the host writes to its standard error. stop, registered with t.Cleanup, ends them; if the
// host says no pid, launchHost stops it and fails t with what the host and
// its plugin (whose standard error goes to the file pluginStderr, if any)
// wrote.
func launchHost(t *testing.T, cmd *exec.Cmd, pluginStderr string, stop func()) (int, *bytes.Buffer) {
	t.Helper()
	errb := new(bytes.Buffer)
	cmd.Stderr = errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	var pid int
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "pid %d", &pid); err != nil {
			stop()
			pe, _ := os.ReadFile(pluginStderr)
			t.Fatalf("host said %q (%v); stderr: %s; plugin: %s", l, err, errb.String(), pe)
		}
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("the host did not start its plugin; stderr: %s", errb.String())
	}
	return pid, errb
}

// startHost starts a host (see runHost) and returns it and the pid of its
// plugin.
func startHost(t *testing.T, spec, stderr string) (*exec.Cmd, int) {
	t.Helper()
	cmd := hostCommand(spec, envHostStderr+"="+stderr)
	var pid int
	pid, _ = launchHost(t, cmd, stderr, func() {
		cmd.Process.Kill()
		cmd.Wait()
		if pid != 0 && !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return cmd, pid
}

// gone reports whether process pid has exited: it does not exist, or is a
// zombie that its new parent has not reaped.
func gone(pid int) bool {
	st, err := procState(pid)
	return err != nil || st == "" || st == "Z" || st == "X"
}

// procState returns the state of process pid from /proc/<pid>/stat: R, S,
// T (stopped), Z (zombie) and so on.
func procState(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	i := bytes.LastIndexByte(b, ')')
	if f := strings.Fields(string(b[i+1:])); len(f) > 0 {
		return f[0], nil
	}
	return "", nil
}

// waitGone waits up to d for pid to exit and returns how long it took.
func waitGone(t *testing.T, pid int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !gone(pid) {
		if time.Since(start) > d {
			t.Fatalf("plugin process %d still running %v after its host was killed", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestNoOrphanWhenTheHostIsKilled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	tests := []struct {
		mode   string
		reason string // in the plugin's log, for raw and link
	}{
		// The kernel kills the plugin (Pdeathsig), at once.
		{"open", ""},
		// The plugin sees its parent change.
		{"raw", "the parent process changed"},
		// The plugin sees the host link close.
		{"link", "the host link closed"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			stderr := filepath.Join(t.TempDir(), "stderr")
			host, pid := startHost(t, tt.mode+":store", stderr)
			if gone(pid) {
				t.Fatalf("plugin process %d is not running", pid)
			}
			if err := host.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			host.Wait()
			took := waitGone(t, pid, 5*time.Second)
			t.Logf("the plugin exited %v after its host was killed", took.Round(time.Millisecond))
			if tt.reason != "" {
				b, _ := os.ReadFile(stderr)
				if !bytes.Contains(b, []byte(tt.reason)) {
					t.Errorf("the plugin's log does not say %q:\n%s", tt.reason, b)
				}
			}
		})
	}
}
