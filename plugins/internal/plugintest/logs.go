package plugintest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logs collects what a logger writes, as JSON lines: the form in which a
// plugin process hands its records to the host. It is safe for concurrent
// use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was written since the last Reset.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Reset forgets what was written.
func (l *Logs) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

// Logger returns a logger of every level that writes to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Secret is the password the redaction tests put in URLs and settings. Its
// '%' starts no valid escape, so a URL that holds it as it is does not
// parse; escaped, it is My%25Secret.
const Secret = "My%Secret"

// secretFragments are the parts of Secret that must not show: the word
// alone catches a message that quotes a piece of it, such as url.Parse's
// `invalid URL escape "%Se"`.
var secretFragments = []string{"Secret", "My%25", "%Se", "My%S"}

// NoSecret fails t when s, what was printed by what, shows Secret or a
// piece of it.
func NoSecret(t testing.TB, what, s string) {
	t.Helper()
	for _, f := range secretFragments {
		if strings.Contains(s, f) {
			t.Errorf("%s shows the secret (%q):\n%s", what, f, s)
			return
		}
	}
}
