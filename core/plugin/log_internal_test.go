package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// records is a slog.Handler that keeps records, with the attributes added
// by WithAttrs first.
type records struct {
	level slog.Level
	attrs []slog.Attr
	out   *[]string
}

func (r records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	for _, a := range r.attrs {
		b.WriteString(" " + a.String())
	}
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	*r.out = append(*r.out, b.String())
	return nil
}

func (r records) WithAttrs(a []slog.Attr) slog.Handler {
	r.attrs = append(append([]slog.Attr(nil), r.attrs...), a...)
	return r
}

func (r records) WithGroup(string) slog.Handler { return r }

func TestHCLogAdapter(t *testing.T) {
	var out []string
	l := slog.New(records{level: slog.LevelDebug, out: &out}).With("plugin", "broker/x")
	a := newHCLogAdapter(l)

	if got := a.GetLevel(); got != hclog.Debug {
		t.Errorf("GetLevel = %v, want debug", got)
	}
	if a.IsTrace() || !a.IsDebug() || !a.IsError() {
		t.Errorf("IsTrace %v IsDebug %v IsError %v, want false true true", a.IsTrace(), a.IsDebug(), a.IsError())
	}
	a.Trace("dropped")
	a.Named("stdio").With("k", 1).Info("hello", "plugin", "/path/to/binary", "n", 2)
	a.Log(hclog.Error, "bad")
	a.StandardWriter(nil).Write([]byte("std line\n"))

	want := []string{
		"INFO hello plugin=broker/x k=1 binary=/path/to/binary n=2",
		"ERROR bad plugin=broker/x",
		"INFO std line plugin=broker/x",
	}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
}

func TestMinLevel(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  hclog.Level
	}{
		{levelTrace, hclog.Trace},
		{slog.LevelDebug, hclog.Debug},
		{slog.LevelInfo, hclog.Info},
		{slog.LevelInfo + 1, hclog.Warn},
		{slog.LevelWarn, hclog.Warn},
		{slog.LevelError, hclog.Error},
		{slog.LevelError + 1, hclog.Off},
	}
	for _, tt := range tests {
		l := slog.New(slog.NewTextHandler(new(bytes.Buffer), &slog.HandlerOptions{Level: tt.level}))
		if got := minLevel(l); got != tt.want {
			t.Errorf("minLevel(logger at %v) = %v, want %v", tt.level, got, tt.want)
		}
	}
}

func TestLineLogger(t *testing.T) {
	var out []string
	w := &lineLogger{l: slog.New(records{out: &out}), level: slog.LevelWarn, attrs: []any{"stream", "stderr"}}
	for _, chunk := range []string{"one\ntw", "o\r\n\n", "three", "\n"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := "WARN one stream=stderr|WARN two stream=stderr|WARN three stream=stderr"
	if got := strings.Join(out, "|"); got != want {
		t.Errorf("records %q, want %q", got, want)
	}
}

// TestPluginSlogHandler checks that records of the plugin's slog.Default are
// the hclog JSON lines that go-plugin parses on the host.
func TestPluginSlogHandler(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(newPluginSlogHandler(&buf, hclog.Debug))
	l.Debug("kept", "n", 1)
	l.Log(context.Background(), levelTrace, "dropped")
	l.Warn("careful", slog.Group("g", "k", "v"))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg string }{{"debug", "kept"}, {"warn", "careful"}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %q: %v", lines[i], err)
		}
		if m["@level"] != want.level || m["@message"] != want.msg {
			t.Errorf("line %q: want @level %s, @message %s", lines[i], want.level, want.msg)
		}
		ts, _ := m["@timestamp"].(string)
		if _, err := time.Parse(hclogTimeFormat, ts); err != nil {
			t.Errorf("line %q: @timestamp: %v", lines[i], err)
		}
	}
}
