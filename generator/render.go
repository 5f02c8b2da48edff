package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/seedmicro/micro/generator/internal/gosrc"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// Owners of a file.
const (
	OwnerGenerator = "generator" // rewritten by micro-new use; a user's edits are merged three ways
	OwnerUser      = "user"      // written once; never touched again
)

// SetFile is the description of a template set, at its root.
const SetFile = "template.json"

// TemplateSuffix ends the name of every template of a set.
const TemplateSuffix = ".tmpl"

// SetMeta is a template set's template.json.
type SetMeta struct {
	// Kind is what the set scaffolds: "service" or "plugin".
	Kind string `json:"kind"`
	// Generated lists the output paths owned by the generator; every other
	// file is the user's.
	Generated []string `json:"generated"`
	// HandlerClient tells that the set's handler/handler.go is the sample
	// handler (the type Ident with the endpoint Hello), whose typed client
	// RenderService adds. Drop it from a set whose handler differs, and
	// run micro-new gen in the project instead.
	HandlerClient bool `json:"handler_client,omitempty"`
}

// Set is a parsed template set.
type Set struct {
	Meta  SetMeta
	files []setFile // sorted by output path
}

type setFile struct {
	src, out string
	tmpl     *template.Template
}

// File is one rendered file.
type File struct {
	Path  string // slash-separated, relative to the project directory
	Data  []byte
	Owner string
	Mode  fs.FileMode
}

// LoadSet parses the templates of fsys (the set's root): every file ending
// in .tmpl, rendered to the same path without the suffix; a path element
// "dot-x" becomes ".x" (embed leaves out files that start with a dot), and
// "field-Name" the value of the template data's field Name.
// The set's template.json gives its kind and the generator-owned files.
func LoadSet(fsys fs.FS) (*Set, error) {
	raw, err := fs.ReadFile(fsys, SetFile)
	if err != nil {
		return nil, fmt.Errorf("template set: %w (every set has a %s at its root; see micro-new templates export)", err, SetFile)
	}
	s := &Set{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Meta); err != nil {
		return nil, fmt.Errorf("template set: %s: %v", SetFile, err)
	}
	funcs := sprig.TxtFuncMap()
	for k, v := range extraFuncs {
		funcs[k] = v
	}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, TemplateSuffix) {
			return nil
		}
		text, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Funcs(funcs).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return fmt.Errorf("template set: %v", err)
		}
		out := strings.TrimSuffix(p, TemplateSuffix)
		parts := strings.Split(out, "/")
		for i, el := range parts {
			if strings.HasPrefix(el, "dot-") {
				parts[i] = "." + strings.TrimPrefix(el, "dot-")
			}
		}
		s.files = append(s.files, setFile{src: p, out: strings.Join(parts, "/"), tmpl: t})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("template set: no *%s files", TemplateSuffix)
	}
	sort.Slice(s.files, func(i, j int) bool { return s.files[i].out < s.files[j].out })
	return s, nil
}

// extraFuncs are the functions templates get besides sprig's.
var extraFuncs = template.FuncMap{
	// goString is a Go string literal: user strings reach Go code only so.
	"goString": strconv.Quote,
	"ident":    Ident,
	"pkgName":  PackageName,
	// jsonString is a JSON string literal.
	"jsonString": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
}

// Render renders every template of the set with data. A template whose
// output is empty (only white space) writes no file: that is how a set
// leaves out a file, such as the subscriber when there is no broker. Go
// files are pruned of unused imports and formatted; a Go file that does not
// parse is an error that names the template.
func (s *Set) Render(data any) ([]File, error) {
	var files []File
	generated := map[string]bool{}
	for _, g := range s.Meta.Generated {
		generated[g] = true
	}
	var buf bytes.Buffer
	for _, f := range s.files {
		buf.Reset()
		if err := f.tmpl.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("render %s: %v", f.src, err)
		}
		if len(bytes.TrimSpace(buf.Bytes())) == 0 {
			continue
		}
		out := append([]byte(nil), buf.Bytes()...)
		if strings.HasSuffix(f.out, ".go") {
			var err error
			if out, err = FormatGo(f.out, out); err != nil {
				return nil, fmt.Errorf("render %s: the output is not valid Go: %v", f.src, err)
			}
		}
		outPath, err := renderPath(f.out, data)
		if err != nil {
			return nil, fmt.Errorf("render %s: its path: %v", f.src, err)
		}
		owner := OwnerUser
		if generated[f.out] {
			owner = OwnerGenerator
		}
		mode := fs.FileMode(0o644)
		if path.Ext(f.out) == ".sh" {
			mode = 0o755
		}
		files = append(files, File{Path: outPath, Data: out, Owner: owner, Mode: mode})
	}
	return files, nil
}

// renderPath replaces each path element of the form field-Name with the
// value of data's field Name (cmd/field-Binary/main.go →
// cmd/micro-plugin-broker-x/main.go). embed leaves out names that start
// with '_' or '.', hence the plain prefix.
func renderPath(p string, data any) (string, error) {
	parts := strings.Split(p, "/")
	for i, el := range parts {
		field, ok := strings.CutPrefix(el, "field-")
		if !ok {
			continue
		}
		t, err := template.New("path").Option("missingkey=error").Parse("{{." + field + "}}")
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return "", err
		}
		v := b.String()
		if v == "" || v == "." || v == ".." || strings.ContainsAny(v, `/\`) {
			return "", fmt.Errorf("%s is %q, not a file name", el, v)
		}
		parts[i] = v
	}
	return strings.Join(parts, "/"), nil
}

// FormatGo removes the imports src does not use and formats it with
// golang.org/x/tools/imports in format-only mode: imports are sorted and
// grouped, never added from the machine's module cache.
func FormatGo(name string, src []byte) ([]byte, error) { return gosrc.Format(name, src) }
