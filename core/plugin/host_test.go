package plugin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lukechampine.com/blake3"

	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/plugin"
)

// childPID returns the pid the child wrote to marker.
func childPID(t *testing.T, marker string) int {
	t.Helper()
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the plugin process did not write its marker: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("marker %q: %v", b, err)
	}
	return pid
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestCloseStopsTheProcess(t *testing.T) {
	tests := []struct {
		kind  plugin.Kind
		serve string
		close func(*plugin.Client) error
	}{
		{plugin.KindBroker, "broker", func(c *plugin.Client) error { return c.Broker().Close(context.Background()) }},
		{plugin.KindRegistry, "registry", func(c *plugin.Client) error { return c.Registry().Close() }},
		{plugin.KindStore, "store", func(c *plugin.Client) error { return c.Store().Close() }},
		{plugin.KindStore, "store", (*plugin.Client).Close},
	}
	for _, tt := range tests {
		t.Run(tt.serve, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "pid")
			t.Setenv(envMarker, marker)
			c := mustOpenChild(t, tt.kind, tt.serve)
			pid := childPID(t, marker)
			if !alive(pid) {
				t.Fatalf("plugin process %d is not running", pid)
			}
			if err := tt.close(c); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if alive(pid) {
				t.Fatalf("plugin process %d still running after Close", pid)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(self)
	wrong := sum
	wrong[0] ^= 1

	t.Run("match", func(t *testing.T) {
		c := mustOpenChild(t, plugin.KindStore, "store", plugin.WithChecksum(sum[:]))
		if _, err := c.Store().List(t.Context(), ""); err != nil {
			t.Fatalf("List: %v", err)
		}
	})
	t.Run("BLAKE3 match", func(t *testing.T) {
		b3 := blake3.Sum256(self)
		// The SHA-256 is wrong: with a BLAKE3 digest, that is what the host checks.
		c := mustOpenChild(t, plugin.KindStore, "store", plugin.WithPin(plugin.Pin{SHA256: wrong[:], BLAKE3: b3[:]}))
		if _, err := c.Store().List(t.Context(), ""); err != nil {
			t.Fatalf("List: %v", err)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "pid")
		t.Setenv(envMarker, marker)
		_, err := openChild(t, plugin.KindStore, "store", plugin.WithChecksum(wrong[:]))
		if !errors.Is(err, plugin.ErrChecksumMismatch) {
			t.Fatalf("Open = %v, want plugin.ErrChecksumMismatch", err)
		}
		t.Log(err)
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the plugin ran although its checksum did not match (marker: %v)", err)
		}
		if !strings.Contains(err.Error(), filepath.Base(os.Args[0])) {
			t.Errorf("error %q does not name the binary", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	notPlugin := filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho hello\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  context.Context
		path string
		kind plugin.Kind
		want string
	}{
		{"unknown kind", context.Background(), os.Args[0], "selector", `unknown kind "selector"`},
		{"kind mismatch", context.Background(), os.Args[0], plugin.KindBroker, "plugin plugin.test: configure: the binary serves a store, not a broker"},
		{"missing binary", context.Background(), filepath.Join(t.TempDir(), "micro-plugin-store-none"), plugin.KindStore, "plugin store/none: start"},
		{"not a plugin", context.Background(), notPlugin, plugin.KindStore, "plugin not-a-plugin: start"},
		{"cancelled", cancelled, os.Args[0], plugin.KindStore, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envServe, "store")
			ctx, cancel := context.WithTimeout(tt.ctx, 30*time.Second)
			defer cancel()
			c, err := plugin.Open(ctx, tt.path, tt.kind, plugin.WithLogger(quiet))
			if err == nil {
				c.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestOpenTyped(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	ctx := t.Context()
	opts := []plugin.Option{plugin.WithLogger(slog.New(watchdog{t}))}

	t.Setenv(envServe, "broker")
	b, err := plugin.OpenBroker(ctx, os.Args[0], opts...)
	if err != nil {
		t.Fatalf("OpenBroker: %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}

	t.Setenv(envServe, "registry")
	r, err := plugin.OpenRegistry(ctx, os.Args[0], opts...)
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	t.Setenv(envServe, "store")
	s, err := plugin.OpenStore(ctx, os.Args[0], opts...)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := s.Read(ctx, "k"); !errors.Is(err, plugin.ErrClosed) {
		t.Errorf("Read after Close = %v, want plugin.ErrClosed", err)
	}
}

// recorder is a slog.Handler that keeps every record with its attributes,
// including those added with WithAttrs.
type recorder struct {
	mu      *sync.Mutex
	records *[]map[string]any
	attrs   []slog.Attr
}

func newRecorder() recorder {
	return recorder{mu: new(sync.Mutex), records: new([]map[string]any)}
}

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.Any()
	}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	*r.records = append(*r.records, m)
	r.mu.Unlock()
	return nil
}

func (r recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	r.attrs = append(append([]slog.Attr(nil), r.attrs...), attrs...)
	return r
}

func (r recorder) WithGroup(string) slog.Handler { return r }

// find returns the first record with message msg.
func (r recorder) find(msg string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range *r.records {
		if rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

func TestLogsReachTheHost(t *testing.T) {
	rec := newRecorder()
	c := mustOpenChild(t, plugin.KindStore, "chatty-store", plugin.WithLogger(slog.New(rec)), plugin.WithName("store/chatty"))

	tests := []struct {
		msg   string
		level slog.Level
		attrs map[string]any
	}{
		// slog.Debug in the plugin, through its standard error and
		// go-plugin's parsing of hclog JSON.
		{"store configured", slog.LevelDebug, map[string]any{"plugin": "store/chatty", "answer": float64(42)}},
		// A line written to os.Stderr after Serve started, through
		// go-plugin's stdio stream.
		{"a line on stderr", slog.LevelWarn, map[string]any{"plugin": "store/chatty", "stream": "stderr"}},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			deadline := time.Now().Add(10 * time.Second)
			var got map[string]any
			for got = rec.find(tt.msg); got == nil; got = rec.find(tt.msg) {
				if time.Now().After(deadline) {
					t.Fatalf("no log record %q reached the host", tt.msg)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got["level"] != tt.level {
				t.Errorf("level = %v, want %v", got["level"], tt.level)
			}
			for k, v := range tt.attrs {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v (record %v)", k, got[k], v, got)
				}
			}
		})
	}
	c.Close()
}

func TestLogLevelReachesThePlugin(t *testing.T) {
	rec := newRecorder()
	var out bytes.Buffer
	h := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})
	// Records go to rec only when h logs them, that is from info up.
	logger := slog.New(levelled{h, rec})
	c := mustOpenChild(t, plugin.KindStore, "chatty-store", plugin.WithLogger(logger))
	// The stderr line is logged at warn: once it is there, the debug
	// record, written before it, would have been too.
	brokertest.WaitWithin(t, 10*time.Second, "the stderr line to reach the host", func() bool { return rec.find("a line on stderr") != nil })
	c.Close()
	if got := rec.find("store configured"); got != nil {
		t.Errorf("a debug record reached a host logging from info: %v", got)
	}
}

// levelled is a handler enabled as h is, that hands records to rec.
type levelled struct {
	h   slog.Handler
	rec recorder
}

func (l levelled) Enabled(ctx context.Context, lv slog.Level) bool { return l.h.Enabled(ctx, lv) }
func (l levelled) Handle(ctx context.Context, r slog.Record) error { return l.rec.Handle(ctx, r) }
func (l levelled) WithAttrs(a []slog.Attr) slog.Handler {
	return levelled{l.h.WithAttrs(a), l.rec.WithAttrs(a).(recorder)}
}
func (l levelled) WithGroup(string) slog.Handler { return l }

func TestStartedByHand(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envServe+"=store")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("a plugin started by hand: %v, want exit status 1", err)
	}
	if !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("a plugin started by hand says %q, want that it is a plugin", out)
	}
}

// childEnv returns the entry of key ("KEY=value") in the environment of
// c's process, or "" if there is none.
func childEnv(t *testing.T, c *plugin.Client, key string) string {
	t.Helper()
	env, err := os.ReadFile("/proc/" + strconv.Itoa(plugin.PID(c)) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, kv := range strings.Split(string(env), "\x00") {
		if strings.HasPrefix(kv, key+"=") {
			got = kv // the last one is the one in effect
		}
	}
	return got
}

// TestGCPercent: a plugin process runs with GOGC DefaultGCPercent, or
// WithGCPercent's, or the host's own (here an empty one) for
// WithGCPercent(0).
func TestGCPercent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Setenv("GOGC", "")
	tests := []struct {
		opts []plugin.Option
		want string
	}{
		{nil, "GOGC=" + strconv.Itoa(plugin.DefaultGCPercent)},
		{[]plugin.Option{plugin.WithGCPercent(150)}, "GOGC=150"},
		{[]plugin.Option{plugin.WithGCPercent(0)}, "GOGC="},
	}
	for _, tt := range tests {
		c := mustOpenChild(t, plugin.KindStore, "store", tt.opts...)
		if got := childEnv(t, c, "GOGC"); got != tt.want {
			t.Errorf("plugin environment has %q, want %q", got, tt.want)
		}
		c.Close()
	}
}

// TestProcs: a plugin process runs with GOMAXPROCS DefaultProcs, the
// number WithProcs gives, or the runtime's default for WithProcs(0).
func TestProcs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	tests := []struct {
		opts []plugin.Option
		want string // "" for none
	}{
		{nil, "GOMAXPROCS=" + strconv.Itoa(plugin.DefaultProcs)},
		{[]plugin.Option{plugin.WithProcs(3)}, "GOMAXPROCS=3"},
		{[]plugin.Option{plugin.WithProcs(0)}, ""},
	}
	for _, tt := range tests {
		c := mustOpenChild(t, plugin.KindStore, "store", tt.opts...)
		if got := childEnv(t, c, "GOMAXPROCS"); got != tt.want {
			t.Errorf("plugin environment has %q, want %q", got, tt.want)
		}
		if pid := c.PID(); pid != plugin.PID(c) || pid <= 0 {
			t.Errorf("PID() = %d, want the process's %d", pid, plugin.PID(c))
		}
		c.Close()
		if pid := c.PID(); pid != 0 {
			t.Errorf("PID() after Close = %d, want 0", pid)
		}
	}
}
