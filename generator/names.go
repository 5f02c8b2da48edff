package generator

import (
	"fmt"
	"go/token"
	"strings"

	"golang.org/x/mod/module"
)

// MaxNameLen is the longest service or plugin name accepted.
const MaxNameLen = 63

// NameError is a refused name: what was given, for which flag, and what is
// allowed.
type NameError struct {
	Flag   string // the flag or argument that carried it, such as "NAME" or "--module"
	Value  string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Flag, e.Value, e.Reason)
}

const nameRule = "use 1 to 63 letters, digits and '-', starting with a letter and not ending with '-' (for example greeter or order-history)"

// CheckName checks a service or plugin name: letters, digits and '-',
// starting with a letter, at most MaxNameLen characters, and not a Go keyword
// once its dashes are dropped (it names a Go package).
func CheckName(flag, name string) error {
	bad := func(reason string) error { return &NameError{Flag: flag, Value: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty name: " + nameRule)
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("%d characters is too long: %s", len(name), nameRule))
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		case r == '-' && i > 0:
		default:
			return bad(fmt.Sprintf("%q is not allowed at position %d: %s", r, i+1, nameRule))
		}
	}
	if strings.HasSuffix(name, "-") {
		return bad("ends with '-': " + nameRule)
	}
	if pkg := PackageName(name); token.IsKeyword(pkg) {
		return bad(fmt.Sprintf("%q is a Go keyword and cannot name a package: choose another name, such as %s-service", pkg, name))
	}
	return nil
}

// CheckModule checks a module path with golang.org/x/mod/module.CheckPath.
func CheckModule(path string) error {
	if path == "" {
		return &NameError{Flag: "--module", Value: path, Reason: "empty module path: give one such as example.com/greeter or github.com/you/greeter"}
	}
	if err := module.CheckPath(path); err != nil {
		return &NameError{Flag: "--module", Value: path, Reason: fmt.Sprintf("not a valid module path (%v): give one such as example.com/greeter or github.com/you/greeter", err)}
	}
	return nil
}

// PackageName is the Go package name derived from a checked name: lower
// case, dashes dropped ("order-history" → "orderhistory").
func PackageName(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "-", ""))
}

// Ident is the exported Go identifier derived from a checked name
// ("order-history" → "OrderHistory").
func Ident(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}
