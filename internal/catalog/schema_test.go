package catalog_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/catalog/catalogtest"
)

func TestCatalogMatchesSchema(t *testing.T) {
	s := catalogtest.Schema(t)
	data, err := os.ReadFile("../../catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("catalog.json does not match catalog.schema.json:\n%v", err)
	}
}

// The schema and the Go validator must agree: each of these documents is
// rejected by both, and each valid variant accepted by both.
func TestSchemaAndValidatorAgree(t *testing.T) {
	s := catalogtest.Schema(t)
	base := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(extraCatalog), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	plugin := func(m map[string]any, i int) map[string]any { return m["plugins"].([]any)[i].(map[string]any) }
	version := func(m map[string]any, i int) map[string]any {
		return plugin(m, i)["versions"].([]any)[0].(map[string]any)
	}
	setting := func(typ string, def any) map[string]any {
		return map[string]any{"name": "x", "type": typ, "default": def, "description": "d"}
	}
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		valid bool
	}{
		{"as is", func(map[string]any) {}, true},
		{"unknown top-level field", func(m map[string]any) { m["extra"] = 1 }, false},
		{"format 2", func(m map[string]any) { m["format"] = 2 }, false},
		{"no name", func(m map[string]any) { delete(m, "name") }, false},
		{"upper-case name", func(m map[string]any) { m["name"] = "Acme" }, false},
		{"no plugins", func(m map[string]any) { m["plugins"] = []any{} }, false},
		{"bad kind", func(m map[string]any) { plugin(m, 0)["name"] = "queue/x"; plugin(m, 0)["kind"] = "queue" }, false},
		{"no description", func(m map[string]any) { delete(plugin(m, 0), "description") }, false},
		{"blank description", func(m map[string]any) { plugin(m, 0)["description"] = "  " }, false},
		{"homepage", func(m map[string]any) { plugin(m, 0)["homepage"] = "https://example.com/x" }, true},
		{"bad homepage", func(m map[string]any) { plugin(m, 0)["homepage"] = "example.com" }, false},
		{"no versions", func(m map[string]any) { plugin(m, 0)["versions"] = []any{} }, false},
		{"bad version", func(m map[string]any) { version(m, 0)["version"] = "1.0" }, false},
		{"v version", func(m map[string]any) { version(m, 0)["version"] = "v1.0.0" }, true},
		{"no protocols", func(m map[string]any) { version(m, 0)["protocols"] = []any{} }, false},
		{"protocol 0", func(m map[string]any) { version(m, 0)["protocols"] = []any{0} }, false},
		{"neither source nor artifacts", func(m map[string]any) { delete(version(m, 0), "source") }, false},
		{"in-module source", func(m map[string]any) { delete(version(m, 0)["source"].(map[string]any), "module") }, true},
		{"module without version", func(m map[string]any) { version(m, 0)["source"].(map[string]any)["module"] = "example.com/acme" }, false},
		{"artifact without sha256", func(m map[string]any) {
			delete(version(m, 1)["artifacts"].([]any)[0].(map[string]any), "sha256")
		}, false},
		{"artifact with short sha256", func(m map[string]any) {
			version(m, 1)["artifacts"].([]any)[0].(map[string]any)["sha256"] = "abc"
		}, false},
		{"artifact ftp url", func(m map[string]any) {
			version(m, 1)["artifacts"].([]any)[0].(map[string]any)["url"] = "ftp://x/y"
		}, false},
		{"artifact zip format", func(m map[string]any) {
			version(m, 1)["artifacts"].([]any)[0].(map[string]any)["format"] = "zip"
		}, true},
		{"artifact rar format", func(m map[string]any) {
			version(m, 1)["artifacts"].([]any)[0].(map[string]any)["format"] = "rar"
		}, false},
		{"infrastructure", func(m map[string]any) { version(m, 0)["infrastructure"] = []any{"RabbitMQ 3.8+"} }, true},
		{"empty infrastructure", func(m map[string]any) { version(m, 0)["infrastructure"] = []any{""} }, false},
		{"settings of each type", func(m map[string]any) {
			version(m, 0)["settings"] = []any{
				map[string]any{"name": "a", "type": "string", "default": "x", "description": "d"},
				map[string]any{"name": "b", "type": "int", "default": 3, "description": "d"},
				map[string]any{"name": "c", "type": "float", "default": 0.5, "description": "d"},
				map[string]any{"name": "d", "type": "bool", "default": true, "description": "d"},
				map[string]any{"name": "e", "type": "duration", "default": "1m30s", "description": "d"},
				map[string]any{"name": "f", "type": "[]string", "default": []any{"x"}, "description": "d"},
				map[string]any{"name": "g", "type": "string", "description": "no default"},
			}
		}, true},
		{"int default not integer", func(m map[string]any) { version(m, 0)["settings"] = []any{setting("int", 1.5)} }, false},
		{"string default a number", func(m map[string]any) { version(m, 0)["settings"] = []any{setting("string", 1)} }, false},
		{"bad duration", func(m map[string]any) { version(m, 0)["settings"] = []any{setting("duration", "soon")} }, false},
		{"bool default a string", func(m map[string]any) { version(m, 0)["settings"] = []any{setting("bool", "true")} }, false},
		{"unknown setting type", func(m map[string]any) { version(m, 0)["settings"] = []any{setting("map", nil)} }, false},
		{"setting without description", func(m map[string]any) {
			version(m, 0)["settings"] = []any{map[string]any{"name": "x", "type": "int"}}
		}, false},
		{"setting name with upper case", func(m map[string]any) {
			version(m, 0)["settings"] = []any{map[string]any{"name": "X", "type": "int", "description": "d"}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.edit(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := s.Validate(doc)
			_, goErr := catalog.Parse(data, "test")
			if (schemaErr == nil) != tt.valid {
				t.Errorf("schema: valid=%v, want %v: %v", schemaErr == nil, tt.valid, schemaErr)
			}
			if (goErr == nil) != tt.valid {
				t.Errorf("Go validator: valid=%v, want %v: %v", goErr == nil, tt.valid, goErr)
			}
		})
	}
}

// What only the Go validator can check.
func TestValidatorUniqueness(t *testing.T) {
	dup := strings.Replace(extraCatalog, `"store/acme", "kind": "store"`, `"broker/rabbitmq", "kind": "broker"`, 1)
	if _, err := catalog.Parse([]byte(dup), "t"); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate plugin: %v", err)
	}
	mismatch := strings.Replace(extraCatalog, `"kind": "store"`, `"kind": "broker"`, 1)
	if _, err := catalog.Parse([]byte(mismatch), "t"); err == nil || !strings.Contains(err.Error(), "does not match the name") {
		t.Errorf("kind mismatch: %v", err)
	}
	outside := strings.Replace(extraCatalog, `"package": "example.com/acme/cmd`, `"package": "example.org/other/cmd`, 1)
	if _, err := catalog.Parse([]byte(outside), "t"); err == nil || !strings.Contains(err.Error(), "is not in module") {
		t.Errorf("package outside its module: %v", err)
	}
}
