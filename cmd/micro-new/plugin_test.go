package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/catalog/catalogtest"
)

// TestPluginScaffold scaffolds a plugin of each kind and runs its tests
// (the conformance suite in process, through the bridge and through its
// binary); checks its catalog entry against catalog.schema.json and the
// catalog parser; installs the broker with install --from and scaffolds a
// service that uses it out of process.
func TestPluginScaffold(t *testing.T) {
	schema := catalogtest.Schema(t)
	c := scaffoldCLI(t)
	for _, kind := range []string{"broker", "registry", "store"} {
		t.Run(kind, func(t *testing.T) {
			out := c.ok("plugin", "kv", "--kind", kind, "--module", "example.com/kv-"+kind)
			dir := filepath.Join(c.wd, "micro-plugin-"+kind+"-kv")
			contains(t, "output", out, "create    cmd/micro-plugin-"+kind+"-kv/main.go", "create    catalog-entry.json")

			entry, err := os.ReadFile(filepath.Join(dir, "catalog-entry.json"))
			if err != nil {
				t.Fatal(err)
			}
			doc := []byte(`{"format": 1, "name": "local", "plugins": [` + string(entry) + `]}`)
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(v); err != nil {
				t.Fatalf("catalog-entry.json does not match catalog.schema.json: %v", err)
			}
			cat, err := catalog.Parse(doc, "catalog-entry.json")
			if err != nil {
				t.Fatalf("catalog-entry.json: %v", err)
			}
			if len(cat.Plugins) != 1 || cat.Plugins[0].Name != kind+"/kv" || cat.Plugins[0].Kind != kind {
				t.Fatalf("the catalog entry does not describe %s/kv", kind)
			}

			for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s in the scaffolded plugin: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
	if t.Failed() {
		return
	}
	// A service uses the local build out of process.
	c.ok("install", "broker/kv", "--from", filepath.Join(c.wd, "micro-plugin-broker-kv", "cmd", "micro-plugin-broker-kv"))
	c.ok("service", "orders", "--broker", "kv", "--plugins", "process", "--no-input")
	var cfg struct {
		Broker struct{ Name string } `json:"broker"`
	}
	data, _ := os.ReadFile(filepath.Join(c.wd, "orders", "micro.json"))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Broker.Name != "kv" {
		t.Fatalf("micro.json of the service: %s (%v), want broker kv", data, err)
	}
}
