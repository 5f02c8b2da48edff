package resolve_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/resolve"
)

// TestNoPasswordsInResolveErrorsAndLogs is issue 12 item 2, resolve's
// side: a password given in an address, in a url setting or in a secret
// setting appears in none of resolve's errors and logs (at debug level),
// on every path that prints an address or settings: an address and a url
// setting that disagree (before, both URLs were printed whole), a
// compiled-in implementation, a plugin that fails quoting its settings, a
// plugin that starts, and one that is not installed.
func TestNoPasswordsInResolveErrorsAndLogs(t *testing.T) {
	const pw, pw2, secret = "Hunter2-Pass", "Other%Pass", "s3cr3t-T0ken"
	t.Setenv(local.EnvDir, t.TempDir())
	dir := t.TempDir()
	install(t, dir, "store/urls", true)
	install(t, dir, "store/echo", true)

	var logs testkit.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := resolve.NewFactories()
	// A compiled-in implementation whose errors quote its settings whole,
	// as a careless library's would.
	f.RegisterBroker("careless", func(_ context.Context, p resolve.Params) (broker.Broker, error) {
		return nil, fmt.Errorf("cannot connect with %s", p.Settings)
	})
	f.RegisterRegistry("fine", func(context.Context, resolve.Params) (registry.Registry, error) {
		return nil, fmt.Errorf("refused")
	})
	r := resolve.New(resolve.WithFactories(f), resolve.WithPluginDir(dir), resolve.WithWorkDir(t.TempDir()), resolve.WithLogger(logger))

	addr := "redis://default:" + pw + "@127.0.0.1:6379/0"
	other := "redis://default:" + pw2 + "@127.0.0.1:6380/0"
	cases := []struct {
		name    string
		open    func() error
		wantErr bool
	}{
		{"address and url setting disagree", func() error {
			_, err := r.Open(t.Context(), resolve.Config{Broker: resolve.Component{Name: "careless", Address: addr, Settings: []byte(`{"url": "` + other + `"}`)}})
			return err
		}, true},
		{"compiled in, error quoting the settings", func() error {
			_, err := r.Open(t.Context(), resolve.Config{Broker: resolve.Component{Name: "careless", Address: addr, Settings: []byte(`{"password": "` + secret + `"}`)}})
			return err
		}, true},
		{"address of an implementation that takes none", func() error {
			_, err := r.Open(t.Context(), resolve.Config{Store: resolve.Component{Name: "memory", Address: addr}})
			return err
		}, true},
		{"unparsable settings", func() error {
			_, err := r.Open(t.Context(), resolve.Config{Broker: resolve.Component{Name: "careless", Settings: []byte(`{"password": "` + secret + `"`)}})
			return err
		}, true},
		{"plugin not installed", func() error {
			_, err := r.Open(t.Context(), resolve.Config{Store: resolve.Component{Name: "nowhere", Address: addr, Settings: []byte(`{"token": "` + secret + `"}`)}})
			return err
		}, true},
		{"plugin fails quoting its settings", func() error {
			serve(t, "echo-store")
			_, err := r.Open(t.Context(), resolve.Config{Store: resolve.Component{Name: "echo", Address: addr, Settings: []byte(`{"password": "` + secret + `"}`)}})
			return err
		}, true},
		{"plugin starts", func() error {
			serve(t, "url-store")
			c, err := r.Open(t.Context(), resolve.Config{Store: resolve.Component{Name: "urls", Address: addr}})
			if err == nil {
				c.Close(context.Background())
			}
			return err
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.open()
			if (err != nil) != c.wantErr {
				t.Fatalf("error = %v, want an error: %v", err, c.wantErr)
			}
			out := logs.String()
			if err != nil {
				out += "\n" + err.Error()
			}
			for _, s := range []string{pw, pw2, strings.ReplaceAll(pw2, "%", "%25"), "Other", secret} {
				if strings.Contains(out, s) {
					t.Errorf("a secret (%q) was printed:\n%s", s, out)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}
