//go:build micro_noplugins

package resolve_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/resolve"
)

// Built with -tags micro_noplugins, a service keeps every implementation
// compiled in and refuses an installed plugin, saying how to get it back.
// (make test runs these with the tag; the lint target checks that such a
// build links neither go-plugin nor gRPC.)
func TestNoPluginsCompiledInStillResolve(t *testing.T) {
	if resolve.PluginsLinked {
		t.Fatal("PluginsLinked is true in a micro_noplugins build")
	}
	r := resolve.New(resolve.WithPluginDir(t.TempDir()), resolve.WithWorkDir(t.TempDir()))
	comps, err := r.Open(context.Background(), resolve.Config{
		Registry: resolve.Component{Name: "memory"},
		Broker:   resolve.Component{Name: "memory"},
	})
	if err != nil {
		t.Fatalf("Open with compiled-in implementations: %v", err)
	}
	if comps.Registry == nil || comps.Broker == nil || comps.Store == nil {
		t.Fatalf("Open returned %+v, want a registry, a broker and a store", comps)
	}
	if err := comps.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNoPluginsInstalledPluginIsRefused(t *testing.T) {
	dir := t.TempDir()
	// An installed plugin's binary: the build cannot start it anyway.
	if err := os.WriteFile(filepath.Join(dir, "micro-plugin-broker-rabbitmq"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(t.TempDir()))
	_, err := r.Open(context.Background(), resolve.Config{Broker: resolve.Component{Name: "rabbitmq"}})
	var nf *resolve.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("Open(broker rabbitmq) = %v, want a *NotFoundError", err)
	}
	for _, want := range []string{"micro_noplugins", "rebuild it without that tag", "broker/rabbitmq"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
