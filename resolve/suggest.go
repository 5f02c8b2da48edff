package resolve

import (
	"os"
	"slices"
	"strings"

	"github.com/seedmicro/micro/core/plugin/spec"
	"github.com/seedmicro/micro/internal/catalog"
)

// knownNames returns the names of kind this service could resolve or
// install: those compiled in, those of the binaries in the plugin
// directory, and those micro's built-in catalog lists. installed are
// those of the plugin directory; inCatalog reports whether name is one of
// the catalog's.
func (r *Resolver) knownNames(kind spec.Kind, name, pluginDir string) (names, installed []string, inCatalog bool) {
	names = r.factories.Names(kind)
	prefix := "micro-plugin-" + string(kind) + "-"
	if entries, err := os.ReadDir(pluginDir); err == nil {
		for _, e := range entries {
			if n, ok := strings.CutPrefix(strings.TrimSuffix(e.Name(), ".exe"), prefix); ok && nameRE.MatchString(n) {
				names = append(names, n)
				installed = append(installed, n)
			}
		}
	}
	for _, p := range catalog.Builtin().Plugins {
		k, n, ok := strings.Cut(p.Name, "/")
		if !ok || k != string(kind) {
			continue
		}
		names = append(names, n)
		if n == name {
			inCatalog = true
		}
	}
	slices.Sort(names)
	return slices.Compact(names), installed, inCatalog
}

// nearest returns the name of names closest to name in edit distance
// (an adjacent swap counts as one edit), if one is close enough to be a
// slip of the fingers: at most two edits, and fewer than half of name's
// letters.
func nearest(name string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if n == name {
			continue
		}
		d := catalog.Distance(name, n)
		if d < bestD && 2*d < len(name)+1 {
			best, bestD = n, d
		}
	}
	return best
}
