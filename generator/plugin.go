package generator

import (
	"fmt"
	"path/filepath"
)

// PluginAnswers is what a plugin scaffold depends on.
type PluginAnswers struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // broker, registry or store
	Module      string `json:"module"`
	CoreVersion string `json:"core_version"`
	CoreReplace string `json:"core_replace,omitempty"`
	GoVersion   string `json:"go_version"`
}

// Check validates the answers.
func (a *PluginAnswers) Check() error {
	if err := CheckName("NAME", a.Name); err != nil {
		return err
	}
	if !contains(kinds, a.Kind) {
		return &NameError{Flag: "--kind", Value: a.Kind, Reason: "use broker, registry or store"}
	}
	if err := CheckModule(a.Module); err != nil {
		return err
	}
	if a.CoreVersion == "" {
		return fmt.Errorf("no core version: set one (the version micro-new was built from)")
	}
	if a.GoVersion == "" {
		a.GoVersion = "1.26"
	}
	return nil
}

// PluginData is what the plugin templates see.
type PluginData struct {
	PluginAnswers
	Package    string // the implementation's Go package name
	Ident      string
	FullName   string // kind/name
	Binary     string // micro-plugin-<kind>-<name>
	CoreModule string
}

// NewPluginData derives the template data from checked answers.
func NewPluginData(a PluginAnswers) PluginData {
	return PluginData{
		PluginAnswers: a,
		Package:       PackageName(a.Name),
		Ident:         Ident(a.Name),
		FullName:      a.Kind + "/" + a.Name,
		Binary:        "micro-plugin-" + a.Kind + "-" + a.Name,
		CoreModule:    CoreModule,
	}
}

// SamplePluginAnswers are answers covering a plugin set's branches: one per
// kind.
func SamplePluginAnswers() []PluginAnswers {
	var out []PluginAnswers
	for _, k := range kinds {
		out = append(out, PluginAnswers{Name: "sample", Kind: k, Module: "example.com/sample", CoreVersion: DevelVersion, CoreReplace: "../micro", GoVersion: "1.26"})
	}
	return out
}

// PluginRequest is a request to scaffold a plugin module.
type PluginRequest struct {
	Set                 *Set
	Answers             PluginAnswers
	Dir                 string
	Force               bool
	Generator, Template string
}

// PlanPlugin renders the plugin set and plans every file against Dir.
func PlanPlugin(req PluginRequest) (*Plan, error) {
	a := req.Answers
	if err := a.Check(); err != nil {
		return nil, err
	}
	if req.Set.Meta.Kind != "plugin" {
		return nil, fmt.Errorf("template set is of kind %q, want plugin", req.Set.Meta.Kind)
	}
	files, err := req.Set.Render(NewPluginData(a))
	if err != nil {
		return nil, err
	}
	plan := &Plan{Root: req.Dir}
	for _, f := range files {
		pl, err := planFile(filepath.Join(req.Dir, filepath.FromSlash(f.Path)), f, req.Force)
		if err != nil {
			return nil, err
		}
		plan.Files = append(plan.Files, pl)
	}
	m := &Manifest{Generator: req.Generator, Template: req.Template, Plugin: &a}
	if err := plan.addManifest(m, req.Force); err != nil {
		return nil, err
	}
	return plan, nil
}
