package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

// CoreModule is the module path of micro's core.
const CoreModule = "github.com/seedmicro/micro"

// ServiceData is what the service templates see.
type ServiceData struct {
	Answers
	Ident   string // the Go identifier of the service: Greeter
	Package string // the Go package name of its handler: greeter
	// Registry, Broker and Store are the chosen components; Name is empty
	// for one left to the default.
	Registry, Broker, Store Component
	// InProcess lists the components whose plugin package is compiled in.
	InProcess []Component
	// Install lists the micro-new install commands the project needs (out of
	// process plugins).
	Install []string
	// ConfigJSON is the content of micro.json.
	ConfigJSON string
	// CoreModule is the core's module path.
	CoreModule string
}

// NewServiceData derives the template data from checked answers.
func NewServiceData(a Answers) ServiceData {
	d := ServiceData{Answers: a, Ident: Ident(a.Name), Package: PackageName(a.Name), CoreModule: CoreModule}
	for _, c := range a.Components {
		switch c.Kind {
		case "registry":
			d.Registry = c
		case "broker":
			d.Broker = c
		case "store":
			d.Store = c
		}
		if c.Embedded() {
			continue
		}
		if a.Plugins == ModeInProcess {
			d.InProcess = append(d.InProcess, c)
		} else {
			d.Install = append(d.Install, "micro-new install "+c.Kind+"/"+c.Name)
		}
	}
	d.ConfigJSON = configJSON(a.Components)
	return d
}

// configJSON is micro.json: the components by kind, in the order registry,
// broker, store, with their default addresses.
func configJSON(cs []Component) string {
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, kind := range kinds {
		for _, c := range cs {
			if c.Kind != kind {
				continue
			}
			if !first {
				b.WriteString(",")
			}
			first = false
			fmt.Fprintf(&b, "\n  %q: {\"name\": %q", kind, c.Name)
			if c.Address != "" {
				fmt.Fprintf(&b, ", \"address\": %q", c.Address)
			}
			b.WriteString("}")
		}
	}
	if !first {
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// ServiceRequest is a request to scaffold a service.
type ServiceRequest struct {
	Set     *Set
	Answers Answers
	Dir     string // the project directory
	Force   bool   // overwrite files that exist and differ
	// Generator is micro-new's version; Template names the set for the
	// manifest.
	Generator, Template string
	// EnclosingGoMod is the go.mod of the module the project is added to
	// (Answers.InModule), which gains the core requirement if it lacks it.
	EnclosingGoMod string
}

// PlanService renders the service set and plans every file against Dir.
// Nothing is written.
func PlanService(req ServiceRequest) (*Plan, error) {
	a := req.Answers
	if err := a.Check(); err != nil {
		return nil, err
	}
	if req.Set.Meta.Kind != "service" {
		return nil, fmt.Errorf("template set is of kind %q, want service", req.Set.Meta.Kind)
	}
	files, err := RenderService(req.Set, NewServiceData(a))
	if err != nil {
		return nil, err
	}
	plan := &Plan{Root: req.Dir}
	for _, f := range files {
		if a.InModule && (f.Path == "go.mod" || f.Path == "go.sum") {
			continue
		}
		pl, err := planFile(filepath.Join(req.Dir, filepath.FromSlash(f.Path)), f, req.Force)
		if err != nil {
			return nil, err
		}
		plan.Files = append(plan.Files, pl)
	}
	if a.InModule && req.EnclosingGoMod != "" {
		pl, err := planEnclosingGoMod(req.EnclosingGoMod, a)
		if err != nil {
			return nil, err
		}
		if pl != nil {
			plan.Outside = append(plan.Outside, *pl)
		}
	}
	if err := plan.addManifest(&Manifest{Generator: req.Generator, Template: req.Template, Answers: a}, req.Force); err != nil {
		return nil, err
	}
	return plan, nil
}

// planEnclosingGoMod adds the core requirement (and replace) to the go.mod
// of the enclosing module if it lacks it; nil when nothing changes.
func planEnclosingGoMod(path string, a Answers) (*Planned, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.Parse(path, old, nil)
	if err != nil {
		return nil, err
	}
	if mf.Module != nil && mf.Module.Mod.Path == CoreModule {
		return nil, nil // the project is added to the core's own module
	}
	changed := false
	has := false
	for _, r := range mf.Require {
		if r.Mod.Path == CoreModule {
			has = true
		}
	}
	if !has {
		if err := mf.AddRequire(CoreModule, a.CoreVersion); err != nil {
			return nil, err
		}
		changed = true
	}
	hasReplace := false
	for _, r := range mf.Replace {
		if r.Old.Path == CoreModule {
			hasReplace = true
		}
	}
	if a.CoreReplace != "" && !hasReplace {
		if err := mf.AddReplace(CoreModule, "", a.CoreReplace, ""); err != nil {
			return nil, err
		}
		changed = true
	}
	if !changed {
		return nil, nil
	}
	mf.Cleanup()
	data, err := mf.Format()
	if err != nil {
		return nil, err
	}
	return &Planned{File: File{Path: path, Data: data, Owner: OwnerUser, Mode: 0o644}, Action: Update, Old: old, Reason: "adds " + CoreModule}, nil
}

// FindModule looks for a go.mod in dir's parent and above; it returns its
// path and module path, or "" when there is none.
func FindModule(dir string) (gomod, modPath string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		p := filepath.Join(d, "go.mod")
		data, err := os.ReadFile(p)
		if err == nil {
			mp := modfile.ModulePath(data)
			if mp == "" {
				return "", "", fmt.Errorf("%s has no module line", p)
			}
			return p, mp, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		if filepath.Dir(d) == d {
			return "", "", nil
		}
	}
}

// UseRequest is a request to regenerate a project's generator-owned files
// with new answers (micro-new use).
type UseRequest struct {
	Set       *Set
	Dir       string // the project directory, holding the manifest
	Manifest  *Manifest
	Answers   Answers // the new answers
	Force     bool    // write conflicting merges as the new render
	Generator string
}

// PlanUse plans micro-new use: the generator-owned files are rendered with
// the new answers; one the user has not edited (its hash is the manifest's)
// is updated, one the user has edited is merged three ways (the original
// render, rebuilt from the manifest's answers; the user's file; the new
// render), and a merge that conflicts is left alone unless Force. Files the
// user owns are never touched.
func PlanUse(req UseRequest) (*Plan, error) {
	a := req.Answers
	if err := a.Check(); err != nil {
		return nil, err
	}
	orig, err := RenderService(req.Set, NewServiceData(req.Manifest.Answers))
	if err != nil {
		return nil, fmt.Errorf("rebuild the original render: %w", err)
	}
	origBy := map[string][]byte{}
	for _, f := range orig {
		origBy[f.Path] = f.Data
	}
	files, err := RenderService(req.Set, NewServiceData(a))
	if err != nil {
		return nil, err
	}
	plan := &Plan{Root: req.Dir}
	m := &Manifest{Generator: req.Generator, Template: req.Manifest.Template, Answers: a, Files: map[string]ManifestFile{}}
	for p, f := range req.Manifest.Files {
		m.Files[p] = f
	}
	for _, f := range files {
		rec, known := req.Manifest.Files[f.Path]
		if f.Owner != OwnerGenerator || (known && rec.Owner == OwnerUser) {
			continue // the user's: left alone
		}
		path := filepath.Join(req.Dir, filepath.FromSlash(f.Path))
		pl, err := planFile(path, f, false)
		if err != nil {
			return nil, err
		}
		if pl.Action == Conflict {
			switch {
			case known && hashOf(pl.Old) == rec.SHA256:
				pl.Action, pl.Reason = Update, ""
			default:
				merged, ok := Merge3(origBy[f.Path], pl.Old, f.Data)
				switch {
				case ok:
					pl.Data = merged
					pl.Action, pl.Reason = Update, "your edits merged"
				case req.Force:
					pl.Action, pl.Reason = Update, "your edits conflict; --force replaced them"
				default:
					pl.Reason = "your edits conflict with the new version; --force replaces them"
				}
			}
		}
		plan.Files = append(plan.Files, pl)
	}
	if err := plan.addManifest(m, true); err != nil {
		return nil, err
	}
	return plan, nil
}
