// Package gosrc formats generated Go source: it removes the imports the
// source does not use, then formats it with golang.org/x/tools/imports in
// format-only mode. It never adds an import, so nothing is guessed from the
// machine's module cache. The scaffolder and the typed-client generator
// both format through it.
package gosrc

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"path"
	"strconv"
	"strings"

	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/imports"
)

// Format removes the imports src does not use and formats it with
// golang.org/x/tools/imports in format-only mode: imports are sorted and
// grouped, never added from the machine's module cache.
func Format(name string, src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	pruned := false
	for _, imp := range append([]*ast.ImportSpec(nil), file.Imports...) {
		p, _ := strconv.Unquote(imp.Path.Value)
		alias := ""
		if imp.Name != nil {
			alias = imp.Name.Name
			if alias == "_" || alias == "." {
				continue
			}
		}
		if !usesImport(file, alias, p) {
			astutil.DeleteNamedImport(fset, file, alias, p)
			pruned = true
		}
	}
	if pruned {
		var buf bytes.Buffer
		if err := (&printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}).Fprint(&buf, fset, file); err != nil {
			return nil, err
		}
		src = buf.Bytes()
	}
	return imports.Process(name, src, &imports.Options{FormatOnly: true, Comments: true, TabIndent: true, TabWidth: 8})
}

// usesImport reports whether file refers to the import of path (by alias,
// else by the last element of its path, as astutil.UsesImport assumes).
func usesImport(file *ast.File, alias, p string) bool {
	name := alias
	if name == "" {
		name = path.Base(p)
		if strings.HasPrefix(name, "v") && isDigits(name[1:]) && strings.Contains(p, "/") {
			name = path.Base(path.Dir(p))
		}
		name = strings.TrimPrefix(name, "go-")
		name = strings.TrimSuffix(name, "-go")
	}
	used := false
	ast.Inspect(file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if ok && isTopName(sel.X, name) {
			used = true
			return false
		}
		return true
	})
	return used
}

func isTopName(n ast.Expr, name string) bool {
	id, ok := n.(*ast.Ident)
	return ok && id.Name == name && id.Obj == nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
