package catalog

import _ "embed"

// builtinJSON is a copy of the repository's catalog.json: go:embed cannot reach
// a parent directory. `go generate ./internal/catalog` refreshes it, and
// TestBuiltinIsCurrent fails when the two differ.
//
//go:generate cp ../../catalog.json builtin.json
//go:embed builtin.json
var builtinJSON []byte

// BuiltinName is the name of the catalog built into micro-new.
const BuiltinName = "builtin"

// Builtin returns the catalog built into micro-new, freshly decoded: the caller
// owns it. It panics if the embedded document is invalid, which
// TestBuiltinIsValid rules out.
func Builtin() *Catalog {
	c, err := Parse(builtinJSON, "built in")
	if err != nil {
		panic("the built-in catalog is invalid: " + err.Error())
	}
	return c
}

// BuiltinJSON returns the built-in catalog document.
func BuiltinJSON() []byte { return append([]byte(nil), builtinJSON...) }
