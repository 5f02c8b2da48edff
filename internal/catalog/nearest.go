package catalog

import (
	"slices"
	"strings"
)

// Closest returns the candidate nearest to name by edit distance (insertions,
// deletions, substitutions and swaps of two neighbouring letters, ignoring
// case), or "" when none is near enough to be a likely typo: at most one edit
// for names of up to four letters, two for longer ones. A candidate that name
// is a prefix of, by three letters or more, counts as near too. Ties go to
// the candidate listed first.
func Closest(name string, candidates []string) string {
	best, bestD := "", -1
	lname := strings.ToLower(name)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == lname {
			return c
		}
		d := Distance(lname, lc)
		if d > maxEdits(lname) {
			if len(lname) >= 3 && strings.HasPrefix(lc, lname) {
				d = maxEdits(lname) // a prefix: as near as the furthest typo
			} else {
				continue
			}
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func maxEdits(s string) int {
	if len(s) <= 4 {
		return 1
	}
	return 2
}

// Distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent letters.
func Distance(a, b string) int {
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

// Nearest returns the plugin names of the set nearest to name, a plugin name
// that was not found ("broker/redsi"), best first: the names of the same kind
// whose short name is a likely typo of name's, else any name that is. It is
// empty when nothing is near. name may also be a short name alone ("redsi"),
// which is compared with the short names of every kind.
func (s *Set) Nearest(name string) []string {
	var all []string
	for _, e := range s.All() {
		if !slices.Contains(all, e.Plugin.Name) {
			all = append(all, e.Plugin.Name)
		}
	}
	return NearestName(name, all)
}

// NearestName is Nearest over a list of plugin names ("<kind>/<name>"),
// for callers that know the names without a catalog (the plugins compiled
// into a service, those installed in a plugin directory).
func NearestName(name string, names []string) []string {
	kind, short, hasKind := strings.Cut(name, "/")
	if !hasKind {
		kind, short = "", name
	}
	var sameKind, other []string
	byShort := map[string][]string{}
	for _, n := range names {
		k, sh, _ := strings.Cut(n, "/")
		byShort[sh] = append(byShort[sh], n)
		if kind == "" || k == kind {
			sameKind = append(sameKind, sh)
		} else {
			other = append(other, n)
		}
	}
	var out []string
	if c := Closest(short, sameKind); c != "" {
		for _, n := range byShort[c] {
			if k, _, _ := strings.Cut(n, "/"); kind == "" || k == kind {
				out = append(out, n)
			}
		}
	}
	if hasKind {
		if c := Closest(name, other); c != "" {
			out = append(out, c)
		}
	}
	return out
}
