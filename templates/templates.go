// Package templates holds micro-new's built-in template sets, one directory
// each, embedded in the binary:
//
//	service/  a service: main, the generator-owned wiring, a handler, a
//	          subscriber, their tests, micro.json, README, Makefile, Dockerfile
//	plugin/   a plugin module: implementation, binary, conformance tests,
//	          catalog entry
//
// Every file ending in .tmpl is a text/template (with the sprig functions),
// rendered to the same path without the suffix; a path element "dot-x"
// becomes ".x", and "field-Name" the value of the data's field Name (such as
// cmd/field-Binary). A set's template.json gives its kind and the files the
// generator owns. `micro-new templates export DIR` writes a set out so that a
// team can keep its own (`--template DIR`).
package templates

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed service plugin
var files embed.FS

// Names lists the built-in sets.
func Names() []string { return []string{"service", "plugin"} }

// Set returns the built-in set name, rooted at its directory.
func Set(name string) (fs.FS, error) {
	for _, n := range Names() {
		if n == name {
			return fs.Sub(files, name)
		}
	}
	return nil, fmt.Errorf("no built-in template set %q: use one of %v", name, Names())
}
