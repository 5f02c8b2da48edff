// Package catalogtest is what tests of the catalog's users share: the
// catalog's JSON schema (catalog.schema.json at the module's root),
// compiled, to check a catalog or an entry that a command wrote against it.
package catalogtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema returns catalog.schema.json compiled, with its formats asserted.
func Schema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("catalogtest: the source file of the package is not known")
	}
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "..", "..", "catalog.schema.json"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("catalog.schema.json", doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile("catalog.schema.json")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
