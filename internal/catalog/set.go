package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Set is several catalogs searched together. The built-in catalog usually comes
// first. A plugin name found in more than one catalog must be qualified.
type Set struct {
	catalogs []*Catalog
}

// NewSet merges catalogs. Two catalogs with the same name are an error, since a
// qualified plugin name ("acme:broker/rabbitmq") could not tell them apart.
func NewSet(catalogs ...*Catalog) (*Set, error) {
	seen := map[string]*Catalog{}
	for _, c := range catalogs {
		if prev, ok := seen[c.Name]; ok {
			return nil, fmt.Errorf("catalogs %s and %s are both named %q: rename one (its \"name\" field) so that plugin names can be qualified as <catalog>:<kind>/<name>", prev.Origin, c.Origin, c.Name)
		}
		seen[c.Name] = c
	}
	return &Set{catalogs: slices.Clone(catalogs)}, nil
}

// Catalogs returns the catalogs of the set, in the order given to NewSet.
func (s *Set) Catalogs() []*Catalog { return slices.Clone(s.catalogs) }

// Catalog returns the catalog of the given name.
func (s *Set) Catalog(name string) (*Catalog, bool) {
	for _, c := range s.catalogs {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// Entry is a plugin together with the catalog it was found in.
type Entry struct {
	Catalog *Catalog
	Plugin  *Plugin
}

// QualifiedName returns "catalog:kind/name".
func (e Entry) QualifiedName() string { return e.Catalog.Name + ":" + e.Plugin.Name }

// Ref is a reference to a plugin as a user types it:
// [catalog:]kind/name[@version].
type Ref struct {
	Catalog string
	Name    string
	Version string
}

func (r Ref) String() string {
	s := r.Name
	if r.Catalog != "" {
		s = r.Catalog + ":" + s
	}
	if r.Version != "" {
		s += "@" + r.Version
	}
	return s
}

// ParseRef parses [catalog:]kind/name[@version].
func ParseRef(s string) (Ref, error) {
	var r Ref
	rest := s
	if c, n, ok := strings.Cut(rest, ":"); ok {
		r.Catalog, rest = c, n
		if !catalogNameRE.MatchString(c) {
			return r, fmt.Errorf("plugin %q: catalog name %q: want lower-case letters, digits, - and _", s, c)
		}
	}
	if n, v, ok := strings.Cut(rest, "@"); ok {
		rest = n
		if !ValidVersion(v) {
			return r, fmt.Errorf("plugin %q: version %q is not a semantic version (1.2.3)", s, v)
		}
		r.Version = strings.TrimPrefix(v, "v")
	}
	kind, short, ok := strings.Cut(rest, "/")
	if !ok || !slices.Contains(kinds, kind) || !shortNameRE.MatchString(short) {
		return r, fmt.Errorf("plugin %q: want [catalog:]<kind>/<name>[@version] with kind one of %s, e.g. broker/rabbitmq", s, strings.Join(kinds, ", "))
	}
	r.Name = rest
	return r, nil
}

// NotFoundError says that no catalog of a set lists a plugin.
type NotFoundError struct {
	Name     string
	Catalogs []string // the catalogs searched
	Nearest  []string // the names nearest to Name, when one is near
}

func (e *NotFoundError) Error() string {
	hint := ""
	if len(e.Nearest) > 0 {
		hint = "; did you mean " + strings.Join(e.Nearest, " or ") + "?"
	}
	return fmt.Sprintf("plugin %s is not in catalog %s%s: `micro-new list` shows the plugins there; add a catalog with --catalog PATH|URL",
		e.Name, strings.Join(e.Catalogs, ", "), hint)
}

// AmbiguousError says that a plugin name is in more than one catalog and must
// be qualified.
type AmbiguousError struct {
	Name     string
	Catalogs []string
}

func (e *AmbiguousError) Error() string {
	q := make([]string, len(e.Catalogs))
	for i, c := range e.Catalogs {
		q[i] = c + ":" + e.Name
	}
	return fmt.Sprintf("plugin %s is in catalogs %s: qualify the name with its catalog, as %s",
		e.Name, strings.Join(e.Catalogs, " and "), strings.Join(q, " or "))
}

// UnknownCatalogError says that a qualified name names a catalog that is not loaded.
type UnknownCatalogError struct {
	Name     string
	Catalog  string
	Catalogs []string
}

func (e *UnknownCatalogError) Error() string {
	return fmt.Sprintf("plugin %s: no catalog named %s is loaded (loaded: %s): add it with --catalog PATH|URL or MICRO_CATALOG",
		e.Name, e.Catalog, strings.Join(e.Catalogs, ", "))
}

func (s *Set) names() []string {
	n := make([]string, len(s.catalogs))
	for i, c := range s.catalogs {
		n[i] = c.Name
	}
	return n
}

// Lookup finds the plugin a Ref names. Its version is not checked here.
func (s *Set) Lookup(r Ref) (Entry, error) {
	var found []Entry
	for _, c := range s.catalogs {
		if r.Catalog != "" && c.Name != r.Catalog {
			continue
		}
		for i := range c.Plugins {
			if c.Plugins[i].Name == r.Name {
				found = append(found, Entry{Catalog: c, Plugin: &c.Plugins[i]})
			}
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		cs := make([]string, len(found))
		for i, e := range found {
			cs[i] = e.Catalog.Name
		}
		return Entry{}, &AmbiguousError{Name: r.Name, Catalogs: cs}
	case r.Catalog != "":
		if _, ok := s.Catalog(r.Catalog); !ok {
			return Entry{}, &UnknownCatalogError{Name: r.Name, Catalog: r.Catalog, Catalogs: s.names()}
		}
		c, _ := s.Catalog(r.Catalog)
		one := &Set{catalogs: []*Catalog{c}}
		return Entry{}, &NotFoundError{Name: r.Name, Catalogs: []string{r.Catalog}, Nearest: one.Nearest(r.Name)}
	}
	return Entry{}, &NotFoundError{Name: r.Name, Catalogs: s.names(), Nearest: s.Nearest(r.Name)}
}

// All returns every plugin of every catalog, sorted by name, then by catalog in
// set order.
func (s *Set) All() []Entry {
	var all []Entry
	for _, c := range s.catalogs {
		for i := range c.Plugins {
			all = append(all, Entry{Catalog: c, Plugin: &c.Plugins[i]})
		}
	}
	slices.SortStableFunc(all, func(a, b Entry) int { return strings.Compare(a.Plugin.Name, b.Plugin.Name) })
	return all
}

// Search returns the plugins whose name, kind, description, settings or
// infrastructure contain term, case-insensitively.
func (s *Set) Search(term string) []Entry {
	term = strings.ToLower(term)
	var hits []Entry
	for _, e := range s.All() {
		if e.Plugin.matches(term) {
			hits = append(hits, e)
		}
	}
	return hits
}

func (p *Plugin) matches(term string) bool {
	in := func(s string) bool { return strings.Contains(strings.ToLower(s), term) }
	if in(p.Name) || in(p.Kind) || in(p.Description) {
		return true
	}
	for _, v := range p.Versions {
		for _, i := range v.Infrastructure {
			if in(i) {
				return true
			}
		}
		for _, st := range v.Settings {
			if in(st.Name) {
				return true
			}
		}
	}
	return false
}
