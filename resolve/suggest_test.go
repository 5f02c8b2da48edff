package resolve_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/resolve"
)

// TestMistypedNameSuggestsTheNearest is issue 13 item 8 (resolve's part):
// a name that is neither compiled in, nor installed, nor in micro's
// catalog is most likely a slip, and the error suggests the nearest known
// name (compiled in, installed or in the catalog) instead of the command
// that would install the misspelt one; before, `--broker redsi` suggested
// `micro-new install broker/redsi`.
func TestMistypedNameSuggestsTheNearest(t *testing.T) {
	t.Setenv(local.EnvDir, t.TempDir())
	dir := t.TempDir()
	install(t, dir, "broker/local-fake", true)
	r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(t.TempDir()), resolve.WithLogger(quiet))
	cases := []struct {
		name          string
		cfg           resolve.Config
		want, notWant []string
	}{
		{"a swap, catalog name", resolve.Config{Broker: resolve.Component{Name: "redsi"}},
			[]string{`did you mean "redis"?`, "`micro-new install broker/redis`"}, []string{"broker/redsi`"}},
		{"a letter missing, catalog name", resolve.Config{Broker: resolve.Component{Name: "rabbitm"}},
			[]string{`did you mean "rabbitmq"?`}, []string{"install broker/rabbitm`"}},
		{"compiled in", resolve.Config{Broker: resolve.Component{Name: "memroy"}},
			[]string{`did you mean "memory"?`}, []string{"micro-new install"}},
		{"compiled-in registry", resolve.Config{Registry: resolve.Component{Name: "locl"}},
			[]string{`did you mean "local"?`}, []string{"micro-new install"}},
		{"installed", resolve.Config{Broker: resolve.Component{Name: "local-fkae"}},
			[]string{`did you mean "local-fake"?`}, []string{"micro-new install"}},
		{"a catalog name not installed", resolve.Config{Broker: resolve.Component{Name: "rabbitmq"}},
			[]string{"`micro-new install broker/rabbitmq`"}, []string{"did you mean"}},
		{"nothing near", resolve.Config{Store: resolve.Component{Name: "zzzzzzzz"}},
			[]string{"`micro-new list`"}, []string{"did you mean", "micro-new install"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Open(t.Context(), c.cfg)
			var nf *resolve.NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("Open = %v, want a *NotFoundError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q says %q", err, w)
				}
			}
		})
	}
}
