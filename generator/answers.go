package generator

import (
	"fmt"
	"sort"
	"strings"
)

// Plugin modes.
const (
	ModeInProcess = "inproc"  // the plugin package is compiled into the service
	ModeProcess   = "process" // the plugin runs as its own binary, installed with micro-new install
)

// Kinds of component.
var kinds = []string{"registry", "broker", "store"}

// embedded lists the implementations the core ships, by kind: they need no
// import and no plugin.
var embedded = map[string][]string{
	"registry": {"local", "memory"},
	"broker":   {"direct", "memory"},
	"store":    {"memory"},
}

// IsEmbedded reports whether name is an implementation of kind that the core
// ships (local, direct, memory).
func IsEmbedded(kind, name string) bool {
	for _, n := range embedded[kind] {
		if n == name {
			return true
		}
	}
	return false
}

// Component is one chosen registry, broker or store.
type Component struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Package is the import path of the plugin's Go package (in process
	// only); empty for an embedded implementation.
	Package string `json:"package,omitempty"`
	// Address is the default server address written to micro.json, if any.
	Address string `json:"address,omitempty"`
}

// Embedded reports whether the component is one the core ships.
func (c Component) Embedded() bool { return IsEmbedded(c.Kind, c.Name) }

// Alias is the import alias of the component's package: kind and name,
// such as brokerrabbitmq, so that registry/redis and store/redis can both be
// imported.
func (c Component) Alias() string { return c.Kind + PackageName(c.Name) }

// Answers is everything a service scaffold depends on: what the user chose
// (flags or prompts) and what micro-new derived. The manifest records it, so
// the same render can be rebuilt later.
type Answers struct {
	Name   string `json:"name"`
	Module string `json:"module"` // the project's module path, or the enclosing module's
	// ImportPath is the import path of the project's root package: Module,
	// or Module/sub/dir inside an enclosing module.
	ImportPath string      `json:"import_path"`
	InModule   bool        `json:"in_module,omitempty"` // added to an enclosing module: no go.mod of its own
	Plugins    string      `json:"plugins"`             // ModeInProcess or ModeProcess
	Components []Component `json:"components,omitempty"`
	// CoreVersion is the version of github.com/seedmicro/micro to require;
	// CoreReplace, if set, is the directory of a checkout to replace it with.
	CoreVersion string `json:"core_version"`
	CoreReplace string `json:"core_replace,omitempty"`
	GoVersion   string `json:"go_version"`
}

// Component returns the component of kind, if one was chosen.
func (a *Answers) Component(kind string) (Component, bool) {
	for _, c := range a.Components {
		if c.Kind == kind {
			return c, true
		}
	}
	return Component{}, false
}

// SetComponent sets (or, with an empty name, removes) the component of kind.
func (a *Answers) SetComponent(c Component) {
	out := a.Components[:0:0]
	for _, x := range a.Components {
		if x.Kind != c.Kind {
			out = append(out, x)
		}
	}
	if c.Name != "" {
		out = append(out, c)
	}
	order := map[string]int{"registry": 0, "broker": 1, "store": 2}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Kind] < order[out[j].Kind] })
	a.Components = out
}

// Check validates the answers: names, module path, kinds, mode, and that an
// in-process plugin has a package to import.
func (a *Answers) Check() error {
	if err := CheckName("NAME", a.Name); err != nil {
		return err
	}
	if err := CheckModule(a.Module); err != nil {
		return err
	}
	if a.ImportPath == "" {
		a.ImportPath = a.Module
	}
	if a.ImportPath != a.Module && !strings.HasPrefix(a.ImportPath, a.Module+"/") {
		return fmt.Errorf("import path %q is not inside module %q", a.ImportPath, a.Module)
	}
	if err := CheckModule(a.ImportPath); err != nil {
		return err
	}
	switch a.Plugins {
	case ModeInProcess, ModeProcess:
	case "":
		a.Plugins = ModeInProcess
	default:
		return &NameError{Flag: "--plugins", Value: a.Plugins, Reason: "use inproc (compiled into the service) or process (its own binary)"}
	}
	seen := map[string]bool{}
	for _, c := range a.Components {
		if !contains(kinds, c.Kind) {
			return fmt.Errorf("unknown component kind %q: use registry, broker or store", c.Kind)
		}
		if seen[c.Kind] {
			return fmt.Errorf("two %ss chosen: choose one", c.Kind)
		}
		seen[c.Kind] = true
		if err := checkPluginName(c); err != nil {
			return err
		}
		if !c.Embedded() && a.Plugins == ModeInProcess && c.Package == "" {
			return fmt.Errorf("--%s %s: no Go package known to compile it in: use --plugins process", c.Kind, c.Name)
		}
	}
	if a.CoreVersion == "" {
		return fmt.Errorf("no core version: set one (the version micro-new was built from)")
	}
	if a.GoVersion == "" {
		a.GoVersion = "1.26"
	}
	return nil
}

func checkPluginName(c Component) error {
	flag := "--" + c.Kind
	if c.Name == "" || len(c.Name) > MaxNameLen {
		return &NameError{Flag: flag, Value: c.Name, Reason: "use a plugin name that micro-new list shows"}
	}
	for i, r := range c.Name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' && i > 0 || (r == '-' || r == '_') && i > 0) {
			return &NameError{Flag: flag, Value: c.Name, Reason: "a plugin name is lower-case letters, digits, '-' and '_': use one that micro-new list shows"}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
