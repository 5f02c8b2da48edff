package resolve

import (
	"os"
	"slices"
	"strings"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/internal/catalog"
)

// knownNames returns the names of kind this service could resolve or
// install: those compiled in, those of the binaries in the plugin
// directory, and those micro's built-in catalog lists. installed are
// those of the plugin directory; inCatalog reports whether name is one of
// the catalog's.
func (r *Resolver) knownNames(kind plugin.Kind, name, pluginDir string) (names, installed []string, inCatalog bool) {
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
		d := editDistance(name, n)
		if d < bestD && 2*d < len(name)+1 {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of adjacent letters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
