package plugin

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Logs travel from a plugin to its host as hclog JSON lines on the plugin's
// standard error, which go-plugin parses on the host and hands, with their
// level, to the host's hclog.Logger: here an adapter onto the host's
// slog.Logger. The host tells the plugin the lowest level it wants in the
// environment variable envLogLevel, so that a plugin does not format
// records the host would drop.

// envLogLevel names the environment variable with the lowest level the host
// logs: trace, debug, info, warn or error.
const envLogLevel = "MICRO_PLUGIN_LOG_LEVEL"

// levelTrace is the slog level of hclog's trace, below debug.
const levelTrace = slog.LevelDebug - 4

// hclogLevel turns a slog level into the nearest hclog level at or below it.
func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

// slogLevels holds the slog level of each hclog level but info.
var slogLevels = map[hclog.Level]slog.Level{
	hclog.Trace: levelTrace,
	hclog.Debug: slog.LevelDebug,
	hclog.Warn:  slog.LevelWarn,
	hclog.Error: slog.LevelError,
	hclog.Off:   levelOff,
}

// slogLevel returns the slog level of l: info for any level not in
// slogLevels.
func slogLevel(l hclog.Level) slog.Level {
	if sl, ok := slogLevels[l]; ok {
		return sl
	}
	return slog.LevelInfo
}

// levelOff is above every level a logger logs at.
const levelOff = slog.Level(1 << 30)

// minLevel returns the lowest hclog level that l logs.
func minLevel(l *slog.Logger) hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.Enabled(context.Background(), slogLevel(lv)) {
			return lv
		}
	}
	return hclog.Off
}

// ---------------------------------------------------------------- host side

// hclogAdapter is an hclog.Logger that writes to a slog.Logger. go-plugin
// logs through it on the host, including the log lines of the plugin. Its
// names (go-plugin names loggers after subsystems and binaries) are not
// logged: the slog.Logger already carries the plugin's name.
type hclogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
	// exe is the name the process was started by (/proc/self/fd/N,
	// internal/spawn), which go-plugin logs; path is the binary's path,
	// logged instead.
	exe, path string
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l *slog.Logger) *hclogAdapter { return &hclogAdapter{l: l} }

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level == hclog.NoLevel {
		level = hclog.Info
	}
	ctx := context.Background()
	sl := slogLevel(level)
	if !a.l.Enabled(ctx, sl) {
		return
	}
	attrs := make([]any, 0, len(a.implied)+len(args))
	attrs = append(attrs, a.implied...)
	attrs = append(attrs, args...)
	// go-plugin calls the binary's path "plugin", which is the key of
	// the plugin's name here.
	for i := 0; i+1 < len(attrs); i += 2 {
		if k, ok := attrs[i].(string); ok && k == "plugin" {
			attrs[i] = "binary"
		}
		if v, ok := attrs[i+1].(string); ok && a.exe != "" && v == a.exe {
			attrs[i+1] = a.path
		}
	}
	a.l.Log(ctx, sl, msg, attrs...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return a.l.Enabled(context.Background(), slogLevel(l))
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name == "" {
		c.name = name
	} else {
		c.name += "." + name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel does nothing: the slog.Logger's handler decides.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

func (a *hclogAdapter) GetLevel() hclog.Level { return minLevel(a.l) }

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineLogger{l: a.l, level: slog.LevelInfo}
}

// lineLogger logs each line written to it. It receives what a plugin
// writes to os.Stdout and os.Stderr other than its log (go-plugin forwards
// both).
type lineLogger struct {
	l     *slog.Logger
	level slog.Level
	attrs []any

	mu  sync.Mutex
	buf []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(w.buf[:i]), "\r"); line != "" {
			w.l.Log(context.Background(), w.level, line, w.attrs...)
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

// -------------------------------------------------------------- plugin side

// pluginLogLevel returns the level the host asked for in envLogLevel, or
// info.
func pluginLogLevel() hclog.Level {
	if l := hclog.LevelFromString(os.Getenv(envLogLevel)); l != hclog.NoLevel {
		return l
	}
	return hclog.Info
}

// hclogTimeFormat is the timestamp layout go-plugin parses in log lines.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// newPluginSlogHandler returns a slog.Handler that writes hclog JSON lines to
// w, which go-plugin on the host parses back into records of the right level.
func newPluginSlogHandler(w io.Writer, level hclog.Level) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slogLevel(level),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			case slog.LevelKey:
				lv, _ := a.Value.Any().(slog.Level)
				return slog.String("@level", hclogLevel(lv).String())
			case slog.MessageKey:
				return slog.Attr{Key: "@message", Value: a.Value}
			}
			return a
		},
	})
}
