package catalog_test

import (
	"slices"
	"testing"

	"github.com/seedmicro/micro/internal/catalog"
)

func TestClosest(t *testing.T) {
	cmds := []string{"list", "ls", "search", "info", "install", "remove", "uninstall", "rm", "verify", "outdated", "upgrade", "doctor", "completion"}
	tests := []struct{ in, want string }{
		{"instal", "install"},
		{"isntall", "install"},
		{"uninstal", "uninstall"},
		{"uninstall", "uninstall"},
		{"lsit", "list"},
		{"verfy", "verify"},
		{"remvoe", "remove"},
		{"upgarde", "upgrade"},
		{"INSTALL", "install"},
		{"doc", "doctor"},
		{"compl", "completion"},
		{"nothing", ""},
		{"frobnicate", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := catalog.Closest(tt.in, cmds); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Issue 13 item 8: `--broker redsi` suggests the nearest catalog name.
func TestNearestCatalogName(t *testing.T) {
	set, err := catalog.NewSet(catalog.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want []string
	}{
		{"broker/redsi", []string{"broker/redis"}},
		{"broker/rabbit", []string{"broker/rabbitmq"}},
		{"broker/rabitmq", []string{"broker/rabbitmq"}},
		{"store/nast", []string{"store/nats"}},
		{"registry/reddis", []string{"registry/redis"}},
		{"redsi", []string{"broker/redis", "registry/redis", "store/redis"}},
		{"broker/kafka", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := set.Nearest(tt.in)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Nearest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
