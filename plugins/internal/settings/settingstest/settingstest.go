// Package settingstest checks what the plugins do with their Config: New
// opens a component (Open), refuses an invalid Config naming the field at
// fault (Check), and names the server it cannot reach without showing the
// password of its URL (Unreachable).
package settingstest

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// Open calls newFn with cfg, within 10 seconds, failing t on error, and
// closes the component when t ends, failing t when Close fails.
func Open[C any, X io.Closer](t testing.TB, newFn func(context.Context, C) (X, error), cfg C) X {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := newFn(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return x
}

// Case is a Config and the field New must name in its error, as
// "Config.<Field>"; with Field empty, New must accept the Config.
type Case[C any] struct {
	Name   string
	Config C
	Field  string
}

// Check runs newFn on the Config of each case, in a subtest named after
// it, and closes what it returns.
func Check[C any, X io.Closer](t *testing.T, newFn func(context.Context, C) (X, error), cases []Case[C]) {
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			x, err := newFn(t.Context(), tt.Config)
			if err == nil {
				x.Close()
			}
			switch {
			case tt.Field == "" && err != nil:
				t.Fatalf("New(%+v): %v", tt.Config, err)
			case tt.Field != "" && (err == nil || !strings.Contains(err.Error(), "Config."+tt.Field)):
				t.Fatalf("New(%+v) error = %v, want one naming Config.%s", tt.Config, err, tt.Field)
			}
		})
	}
}

// Unreachable checks that newFn fails, within 5 seconds, to reach a server
// that is not there: given the URL of a closed port, with the password
// "secret" in it, its error names the server and does not show the
// password. url is that URL for the plugin's scheme, such as
// "redis://:secret@127.0.0.1:1/0"; the server is its host and port.
func Unreachable[X io.Closer](t *testing.T, newFn func(ctx context.Context, url string) (X, error), url, server string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	x, err := newFn(ctx, url)
	if err == nil {
		x.Close()
	}
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), server) {
		t.Fatalf("New without a server: %v; want an error naming the server %s, without the password", err, server)
	}
}
