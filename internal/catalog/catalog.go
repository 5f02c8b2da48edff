// Package catalog loads, validates and merges plugin catalogs.
//
// A catalog is a JSON document (see catalog.schema.json at the repository root)
// that lists plugins by name ("<kind>/<name>"), each with versions; a version
// says which plugin protocol versions it speaks, where its source is, which
// prebuilt artifacts exist (each with a required sha256), the settings it takes
// and the infrastructure it needs.
//
// The catalog built into micro-new is the repository's catalog.json, embedded
// (Builtin). More catalogs are loaded with Load and merged into a Set; a plugin
// name found in two catalogs of a Set must be qualified with the catalog's name:
// "acme:broker/rabbitmq".
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Format is the catalog format version this package reads.
const Format = 1

// Kinds are the plugin kinds a catalog may list.
var kinds = []string{"broker", "registry", "store"}

// Catalog is one catalog document.
type Catalog struct {
	Schema  string   `json:"$schema,omitempty"`
	Format  int      `json:"format"`
	Name    string   `json:"name"`
	Plugins []Plugin `json:"plugins"`

	// Origin is where the catalog was loaded from: "built in", a path or a URL.
	Origin string `json:"-"`
}

// Plugin is one plugin of a catalog.
type Plugin struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Description string    `json:"description"`
	Homepage    string    `json:"homepage,omitempty"`
	Versions    []Version `json:"versions"`
}

// Version is one released version of a plugin.
type Version struct {
	Version        string     `json:"version"`
	Protocols      []int      `json:"protocols"`
	Source         *Source    `json:"source,omitempty"`
	Artifacts      []Artifact `json:"artifacts,omitempty"`
	Settings       []Setting  `json:"settings,omitempty"`
	Infrastructure []string   `json:"infrastructure,omitempty"`
}

// Source is the Go package of a plugin's out-of-process binary. Module is empty
// for a package of the micro module itself, else "path@version".
type Source struct {
	Module  string `json:"module,omitempty"`
	Package string `json:"package"`
}

// ModulePath and ModuleVersion split Module ("path@version").
func (s *Source) ModulePath() string    { p, _, _ := strings.Cut(s.Module, "@"); return p }
func (s *Source) ModuleVersion() string { _, v, _ := strings.Cut(s.Module, "@"); return v }

// String renders the source as the lock file records it: the package path, and
// "@version" for a package of another module.
func (s *Source) String() string {
	if s.Module == "" {
		return s.Package
	}
	return s.Package + "@" + s.ModuleVersion()
}

// Artifact is a prebuilt binary, or an archive holding it, for one platform.
type Artifact struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	// Format is "binary", "tar.gz" or "zip"; empty means inferred from the URL.
	Format string `json:"format,omitempty"`
	// Path is the binary's path inside an archive; empty means the entry named
	// like the binary (micro-plugin-<kind>-<name>) wherever it is.
	Path string `json:"path,omitempty"`
}

// Artifact formats.
const (
	FormatBinary = "binary"
	FormatTarGz  = "tar.gz"
	FormatZip    = "zip"
)

// ArchiveFormat returns the artifact's format, inferred from its URL when not set.
func (a *Artifact) ArchiveFormat() string {
	if a.Format != "" {
		return a.Format
	}
	return FormatOf(a.URL)
}

// FormatOf infers an artifact format from a URL or file name.
func FormatOf(name string) string {
	if u, err := url.Parse(name); err == nil && u.Scheme != "" {
		name = u.Path
	}
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return FormatTarGz
	case strings.HasSuffix(n, ".zip"):
		return FormatZip
	}
	return FormatBinary
}

// Setting is one setting a plugin takes: a field of the JSON document the
// plugin decodes strictly into its config struct.
type Setting struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Default     json.RawMessage `json:"default,omitempty"`
	Description string          `json:"description"`
}

// Setting types.
var settingTypes = []string{"string", "int", "float", "bool", "duration", "[]string"}

// Parse decodes and validates a catalog. Unknown fields are errors. origin says
// where data came from, for messages.
func Parse(data []byte, origin string) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", origin, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("catalog %s: data after the JSON object", origin)
	}
	c.Origin = origin
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	catalogNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	shortNameRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	settingNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	sha256RE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	goosArchRE    = regexp.MustCompile(`^[a-z0-9]+$`)
	pkgPathRE     = regexp.MustCompile(`^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~+-]+)+$`)
)

// ValidationError lists what is wrong with a catalog.
type ValidationError struct {
	Catalog  string // the catalog's name or origin
	Problems []string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("catalog %s is invalid: %s", e.Catalog, strings.Join(e.Problems, "; "))
}

// Validate checks everything the schema checks, and what a schema cannot say:
// unique names, versions and platforms, and defaults of the setting's type.
func (c *Catalog) Validate() error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if c.Format != Format {
		bad("format is %d, want %d", c.Format, Format)
	}
	if !catalogNameRE.MatchString(c.Name) {
		bad("name %q: want lower-case letters, digits, - and _", c.Name)
	}
	if len(c.Plugins) == 0 {
		bad("no plugins")
	}
	names := map[string]bool{}
	for _, p := range c.Plugins {
		at := "plugin " + p.Name
		kind, short, ok := strings.Cut(p.Name, "/")
		if !ok || !slices.Contains(kinds, kind) || !shortNameRE.MatchString(short) {
			bad("%s: name: want <kind>/<name> with kind one of %s", at, strings.Join(kinds, ", "))
		}
		if p.Kind != kind {
			bad("%s: kind %q does not match the name", at, p.Kind)
		}
		if names[p.Name] {
			bad("%s: listed twice", at)
		}
		names[p.Name] = true
		if strings.TrimSpace(p.Description) == "" {
			bad("%s: no description", at)
		}
		if p.Homepage != "" {
			if u, err := url.Parse(p.Homepage); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("%s: homepage %q is not an http(s) URL", at, p.Homepage)
			}
		}
		if len(p.Versions) == 0 {
			bad("%s: no versions", at)
		}
		versions := map[string]bool{}
		for _, v := range p.Versions {
			vat := at + " " + v.Version
			if !ValidVersion(v.Version) {
				bad("%s: version %q is not a semantic version (1.2.3)", at, v.Version)
			}
			if versions[v.Version] {
				bad("%s: listed twice", vat)
			}
			versions[v.Version] = true
			if len(v.Protocols) == 0 {
				bad("%s: no protocol versions", vat)
			}
			for _, pv := range v.Protocols {
				if pv < 1 {
					bad("%s: protocol version %d: want 1 or more", vat, pv)
				}
			}
			if v.Source == nil && len(v.Artifacts) == 0 {
				bad("%s: neither a source nor an artifact", vat)
			}
			if s := v.Source; s != nil {
				if !pkgPathRE.MatchString(s.Package) {
					bad("%s: source package %q is not a Go package path", vat, s.Package)
				}
				if s.Module != "" {
					mp, mv, ok := strings.Cut(s.Module, "@")
					if !ok || !pkgPathRE.MatchString(mp) || !ValidVersion(mv) || !strings.HasPrefix(mv, "v") {
						bad("%s: source module %q: want path@vX.Y.Z", vat, s.Module)
					} else if s.Package != mp && !strings.HasPrefix(s.Package, mp+"/") {
						bad("%s: source package %s is not in module %s", vat, s.Package, mp)
					}
				}
			}
			plats := map[string]bool{}
			for _, a := range v.Artifacts {
				plat := a.OS + "/" + a.Arch
				if !goosArchRE.MatchString(a.OS) || !goosArchRE.MatchString(a.Arch) {
					bad("%s: artifact platform %q: want GOOS and GOARCH", vat, plat)
				}
				if plats[plat] {
					bad("%s: two artifacts for %s", vat, plat)
				}
				plats[plat] = true
				if u, err := url.Parse(a.URL); err != nil || !slices.Contains([]string{"https", "http", "file"}, u.Scheme) {
					bad("%s: artifact for %s: url %q: want https, http or file", vat, plat, a.URL)
				}
				if !sha256RE.MatchString(a.SHA256) {
					bad("%s: artifact for %s: sha256 is required: 64 lower-case hex digits", vat, plat)
				}
				if a.Format != "" && !slices.Contains([]string{FormatBinary, FormatTarGz, FormatZip}, a.Format) {
					bad("%s: artifact for %s: format %q: want binary, tar.gz or zip", vat, plat, a.Format)
				}
			}
			settings := map[string]bool{}
			for _, s := range v.Settings {
				sat := vat + ": setting " + s.Name
				if !settingNameRE.MatchString(s.Name) {
					bad("%s: name: want lower-case letters, digits and _", sat)
				}
				if settings[s.Name] {
					bad("%s: listed twice", sat)
				}
				settings[s.Name] = true
				if !slices.Contains(settingTypes, s.Type) {
					bad("%s: type %q: want one of %s", sat, s.Type, strings.Join(settingTypes, ", "))
				} else if len(s.Default) > 0 {
					if err := checkDefault(s.Type, s.Default); err != nil {
						bad("%s: default: %v", sat, err)
					}
				}
				if strings.TrimSpace(s.Description) == "" {
					bad("%s: no description", sat)
				}
			}
			for _, inf := range v.Infrastructure {
				if strings.TrimSpace(inf) == "" {
					bad("%s: empty infrastructure entry", vat)
				}
			}
		}
	}
	if len(probs) > 0 {
		name := c.Name
		if c.Origin != "" {
			name = fmt.Sprintf("%s (%s)", c.Name, c.Origin)
		}
		return &ValidationError{Catalog: name, Problems: probs}
	}
	return nil
}

func checkDefault(typ string, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch typ {
	case "string":
		if _, ok := v.(string); ok {
			return nil
		}
	case "int":
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return nil
		}
	case "float":
		if _, ok := v.(float64); ok {
			return nil
		}
	case "bool":
		if _, ok := v.(bool); ok {
			return nil
		}
	case "duration":
		if s, ok := v.(string); ok {
			if _, err := time.ParseDuration(s); err != nil {
				return err
			}
			return nil
		}
	case "[]string":
		if a, ok := v.([]any); ok {
			for _, e := range a {
				if _, ok := e.(string); !ok {
					return errors.New("want an array of strings")
				}
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not a %s", raw, typ)
}

// FindVersion returns the named version of the plugin ("1.2.0" or "v1.2.0"), or
// its latest version when v is empty.
func (p *Plugin) FindVersion(v string) (*Version, bool) {
	if v == "" {
		return p.Latest(), true
	}
	for i := range p.Versions {
		if CompareVersions(p.Versions[i].Version, v) == 0 {
			return &p.Versions[i], true
		}
	}
	return nil, false
}

// Latest returns the plugin's highest version that is not a pre-release, or its
// highest version when all are pre-releases.
func (p *Plugin) Latest() *Version {
	var best *Version
	for i := range p.Versions {
		v := &p.Versions[i]
		if best == nil {
			best = v
			continue
		}
		bp, vp := isPrerelease(best.Version), isPrerelease(v.Version)
		if (bp && !vp) || (bp == vp && CompareVersions(v.Version, best.Version) > 0) {
			best = v
		}
	}
	return best
}

// VersionList returns the plugin's versions, highest first.
func (p *Plugin) VersionList() []string {
	vs := make([]string, 0, len(p.Versions))
	for _, v := range p.Versions {
		vs = append(vs, v.Version)
	}
	slices.SortFunc(vs, func(a, b string) int { return CompareVersions(b, a) })
	return vs
}

// ArtifactFor returns the version's artifact for a platform ("linux/amd64").
func (v *Version) ArtifactFor(platform string) (*Artifact, bool) {
	for i := range v.Artifacts {
		if v.Artifacts[i].OS+"/"+v.Artifacts[i].Arch == platform {
			return &v.Artifacts[i], true
		}
	}
	return nil, false
}
