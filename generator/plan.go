package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Actions of a planned file.
const (
	Create    = "create"    // the file does not exist
	Identical = "identical" // the file exists with this content: nothing to do
	Update    = "update"    // the file exists and will be rewritten (forced, or merged cleanly)
	Conflict  = "conflict"  // the file exists, differs, and is left alone
	Keep      = "keep"      // a user-owned file that micro-new use leaves alone
)

// Planned is one file of a plan.
type Planned struct {
	File
	Action string
	Old    []byte // what is on disk (nil if nothing)
	Reason string // why the action, for conflicts and merges
}

// Plan is what a run would do, file by file, before anything is written.
type Plan struct {
	// Root is the directory paths are relative to: the project directory.
	Root  string
	Files []Planned
	// Outside are files outside Root that the plan changes, such as the
	// go.mod of an enclosing module, by absolute path.
	Outside []Planned
	// Manifest is what .micro-new.json will hold once written.
	Manifest *Manifest
}

// Conflicts lists the paths in conflict.
func (p *Plan) Conflicts() []string {
	var out []string
	for _, f := range p.all() {
		if f.Action == Conflict {
			out = append(out, f.Path)
		}
	}
	return out
}

func (p *Plan) all() []Planned { return append(append([]Planned(nil), p.Files...), p.Outside...) }

// Describe writes the plan, one line per file, and with diffs the unified
// diff of every file that would change.
func (p *Plan) Describe(w io.Writer, diffs bool) {
	for _, f := range p.all() {
		line := fmt.Sprintf("%-9s %s", f.Action, f.Path)
		if f.Reason != "" {
			line += "  (" + f.Reason + ")"
		}
		fmt.Fprintln(w, line)
	}
	if !diffs {
		return
	}
	for _, f := range p.all() {
		if f.Action == Create || f.Action == Update || f.Action == Conflict {
			fmt.Fprint(w, UnifiedDiff(f.Path, f.Old, f.Data))
		}
	}
}

// planFile compares f with what is at path on disk. force turns a
// conflict into an update.
func planFile(path string, f File, force bool) (Planned, error) {
	pl := Planned{File: f}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		pl.Action = Create
		return pl, nil
	case err != nil:
		return pl, err
	}
	pl.Old = old
	switch {
	case bytes.Equal(old, f.Data):
		pl.Action = Identical
	case force:
		pl.Action, pl.Reason = Update, "--force"
	default:
		pl.Action, pl.Reason = Conflict, "exists and differs; --force overwrites it"
	}
	return pl, nil
}

// ManifestName is the manifest's name, at the project's root.
const ManifestName = ".micro-new.json"

// Manifest records what the generator wrote.
type Manifest struct {
	Format    int     `json:"format"`
	Generator string  `json:"generator"` // micro-new's version
	Template  string  `json:"template"`  // "builtin:service" or the custom set's directory
	Answers   Answers `json:"answers"`
	// Plugin is the answers of a plugin scaffold (micro-new plugin).
	Plugin *PluginAnswers          `json:"plugin,omitempty"`
	Files  map[string]ManifestFile `json:"files"`
}

// ManifestFile is one written file.
type ManifestFile struct {
	SHA256 string `json:"sha256"`
	Owner  string `json:"owner"`
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadManifest reads the manifest of the project in dir.
func ReadManifest(dir string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: run micro-new use inside a project that micro-new service wrote", dir, ManifestName)
	}
	if err != nil {
		return nil, err
	}
	return ParseManifest(raw)
}

// ParseManifest decodes a manifest strictly.
func ParseManifest(raw []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %v (restore it from version control)", ManifestName, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON document (restore it from version control)", ManifestName)
	}
	if m.Format != 1 {
		return nil, fmt.Errorf("%s: format %d, want 1: this micro-new is older than the one that wrote it", ManifestName, m.Format)
	}
	for p, f := range m.Files {
		if !fs.ValidPath(p) || p == "." {
			return nil, fmt.Errorf("%s: file %q is not a relative path inside the project", ManifestName, p)
		}
		if f.Owner != OwnerGenerator && f.Owner != OwnerUser {
			return nil, fmt.Errorf("%s: file %q: owner %q, want generator or user", ManifestName, p, f.Owner)
		}
	}
	return &m, nil
}

// manifestPlanned adds the manifest, built from files, to the plan.
func (p *Plan) addManifest(m *Manifest, force bool) error {
	m.Format = 1
	if m.Files == nil {
		m.Files = map[string]ManifestFile{}
	}
	for _, f := range p.Files {
		if f.Action == Conflict || f.Action == Keep {
			continue
		}
		m.Files[f.Path] = ManifestFile{SHA256: hashOf(f.Data), Owner: f.Owner}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	pl, err := planFile(filepath.Join(p.Root, ManifestName), File{Path: ManifestName, Data: data, Owner: OwnerGenerator, Mode: 0o644}, true)
	if err != nil {
		return err
	}
	if pl.Action == Update {
		pl.Reason = ""
	}
	p.Files = append(p.Files, pl)
	p.Manifest = m
	return nil
}

// Write writes the plan's created and updated files. It refuses a plan with
// conflicts. Every file is first written into a temporary directory next to
// the project and then moved into place: when anything fails before the
// moves, nothing is left behind. A new project directory is moved into place
// in one rename.
func (p *Plan) Write() error {
	if c := p.Conflicts(); len(c) > 0 {
		return fmt.Errorf("%d files exist and differ: %s (nothing written; --force overwrites them, --dry-run shows the differences)", len(c), strings.Join(c, ", "))
	}
	stage, err := p.Stage()
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage.dir)
	return stage.commit()
}

// Staged is a plan written into a temporary directory, not yet in place.
type Staged struct {
	plan *Plan
	dir  string // the temporary directory
	// Project is where the project's files are staged: a complete copy of
	// the project's generated files, ready to build for --verify.
	Project string
}

// Stage writes the plan's files into a temporary directory beside the
// project. Call Cleanup when done with it.
func (p *Plan) Stage() (*Staged, error) {
	root, err := filepath.Abs(p.Root)
	if err != nil {
		return nil, err
	}
	anc := existingAncestor(filepath.Dir(root))
	dir, err := os.MkdirTemp(anc, ".micro-new-*")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	s := &Staged{plan: p, dir: dir, Project: filepath.Join(dir, "project")}
	for _, f := range p.Files {
		if f.Action == Conflict || f.Action == Keep {
			continue
		}
		if f.Action == Identical && f.Path == ManifestName {
			continue
		}
		if err := writeFile(filepath.Join(s.Project, filepath.FromSlash(f.Path)), f.Data, f.Mode); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	for i, f := range p.Outside {
		if f.Action != Create && f.Action != Update {
			continue
		}
		if err := writeFile(filepath.Join(dir, "outside", fmt.Sprint(i)), f.Data, f.Mode); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return s, nil
}

// Refresh takes the staged content of paths back into the plan, for files
// a tool changed in the staging directory (go mod tidy changes go.mod and
// writes go.sum), and records them in the manifest.
func (s *Staged) Refresh(paths ...string) error {
	p := s.plan
	for _, rel := range paths {
		data, err := os.ReadFile(filepath.Join(s.Project, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		i := slices.IndexFunc(p.Files, func(f Planned) bool { return f.Path == rel })
		if i < 0 {
			pl, err := planFile(filepath.Join(p.Root, filepath.FromSlash(rel)), File{Path: rel, Data: data, Owner: OwnerUser, Mode: 0o644}, false)
			if err != nil {
				return err
			}
			if pl.Action == Conflict {
				pl.Action, pl.Reason = Update, "go mod tidy"
			}
			p.Files = append(p.Files, pl)
			i = len(p.Files) - 1
		}
		f := &p.Files[i]
		f.Data = data
		switch {
		case f.Action == Conflict || f.Action == Keep:
			continue
		case bytes.Equal(f.Old, data):
			f.Action = Identical
		case f.Old == nil:
			f.Action = Create
		default:
			f.Action = Update
		}
		p.Manifest.Files[rel] = ManifestFile{SHA256: hashOf(data), Owner: f.Owner}
	}
	// Rewrite the staged manifest.
	data, err := json.MarshalIndent(p.Manifest, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	i := slices.IndexFunc(p.Files, func(f Planned) bool { return f.Path == ManifestName })
	mf := &p.Files[i]
	mf.Data = data
	if bytes.Equal(mf.Old, data) {
		mf.Action = Identical
		return nil
	}
	if mf.Old == nil {
		mf.Action = Create
	} else {
		mf.Action = Update
	}
	return writeFile(filepath.Join(s.Project, ManifestName), data, 0o644)
}

// Cleanup removes the temporary directory.
func (s *Staged) Cleanup() { os.RemoveAll(s.dir) }

// Commit moves the staged files into place and removes the temporary
// directory.
func (s *Staged) Commit() error {
	defer s.Cleanup()
	return s.commit()
}

func (s *Staged) commit() error {
	root, err := filepath.Abs(s.plan.Root)
	if err != nil {
		return err
	}
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		// A new project: create its parents, then move it in one rename.
		if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
			return err
		}
		if err := os.Rename(s.Project, root); err != nil {
			return fmt.Errorf("move the project into place: %w", err)
		}
	} else {
		files := append([]Planned(nil), s.plan.Files...)
		// The manifest last: it then describes only files in place.
		sort.SliceStable(files, func(i, j int) bool { return files[j].Path == ManifestName })
		for _, f := range files {
			if f.Action != Create && f.Action != Update {
				continue
			}
			dst := filepath.Join(root, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.Rename(filepath.Join(s.Project, filepath.FromSlash(f.Path)), dst); err != nil {
				return fmt.Errorf("move %s into place: %w", f.Path, err)
			}
		}
	}
	for i, f := range s.plan.Outside {
		if f.Action != Create && f.Action != Update {
			continue
		}
		if err := os.Rename(filepath.Join(s.dir, "outside", fmt.Sprint(i)), f.Path); err != nil {
			return fmt.Errorf("move %s into place: %w", f.Path, err)
		}
	}
	return nil
}

func writeFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	return os.WriteFile(path, data, mode)
}

// existingAncestor is dir or its nearest ancestor that exists.
func existingAncestor(dir string) string {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
