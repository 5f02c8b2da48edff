package generator

import (
	"bytes"
	"fmt"
	"strings"
)

// splitLines splits b into lines, each with its newline.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// hunk is a change: lines [a0, a1) of the old text replaced by lines
// [b0, b1) of the new one.
type hunk struct{ a0, a1, b0, b1 int }

// lineDiff returns the changes from a to b, in order, from a longest common
// subsequence of lines. The files the generator writes are small, so the
// quadratic table is fine.
func lineDiff(a, b []string) []hunk {
	n, m := len(a), len(b)
	// Trim the common prefix and suffix first: most edits are local.
	pre := 0
	for pre < n && pre < m && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < n-pre && suf < m-pre && a[n-1-suf] == b[m-1-suf] {
		suf++
	}
	a2, b2 := a[pre:n-suf], b[pre:m-suf]
	la, lb := len(a2), len(b2)
	lcs := make([][]int32, la+1)
	for i := range lcs {
		lcs[i] = make([]int32, lb+1)
	}
	for i := la - 1; i >= 0; i-- {
		for j := lb - 1; j >= 0; j-- {
			if a2[i] == b2[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var hunks []hunk
	i, j := 0, 0
	open := false
	var cur hunk
	flush := func() {
		if open {
			cur.a1, cur.b1 = i+pre, j+pre
			hunks = append(hunks, cur)
			open = false
		}
	}
	start := func() {
		if !open {
			cur = hunk{a0: i + pre, b0: j + pre}
			open = true
		}
	}
	for i < la || j < lb {
		switch {
		case i < la && j < lb && a2[i] == b2[j]:
			flush()
			i++
			j++
		case j < lb && (i == la || lcs[i][j+1] >= lcs[i+1][j]):
			start()
			j++
		default:
			start()
			i++
		}
	}
	flush()
	return hunks
}

// UnifiedDiff is the unified diff from old to new with three lines of
// context, labelled with name; empty when they are equal.
func UnifiedDiff(name string, old, new []byte) string {
	if bytes.Equal(old, new) {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	hunks := lineDiff(a, b)
	const ctx = 3
	var out strings.Builder
	from, to := "a/"+name, "b/"+name
	if old == nil {
		from = "/dev/null"
	}
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	for k := 0; k < len(hunks); {
		// Group hunks whose context overlaps.
		first := k
		last := k
		for last+1 < len(hunks) && hunks[last+1].a0-hunks[last].a1 <= 2*ctx {
			last++
		}
		a0 := max(hunks[first].a0-ctx, 0)
		a1 := min(hunks[last].a1+ctx, len(a))
		b0 := hunks[first].b0 - (hunks[first].a0 - a0)
		b1 := hunks[last].b1 + (a1 - hunks[last].a1)
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", rangeOf(a0, a1), rangeOf(b0, b1))
		i := a0
		for h := first; h <= last; h++ {
			for ; i < hunks[h].a0; i++ {
				writeLine(&out, " ", a[i])
			}
			for x := hunks[h].a0; x < hunks[h].a1; x++ {
				writeLine(&out, "-", a[x])
			}
			for x := hunks[h].b0; x < hunks[h].b1; x++ {
				writeLine(&out, "+", b[x])
			}
			i = hunks[h].a1
		}
		for ; i < a1; i++ {
			writeLine(&out, " ", a[i])
		}
		k = last + 1
	}
	return out.String()
}

func rangeOf(lo, hi int) string {
	if hi-lo == 1 {
		return fmt.Sprint(lo + 1)
	}
	if hi == lo {
		return fmt.Sprintf("%d,0", lo)
	}
	return fmt.Sprintf("%d,%d", lo+1, hi-lo)
}

func writeLine(out *strings.Builder, prefix, line string) {
	out.WriteString(prefix)
	out.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		out.WriteString("\n\\ No newline at end of file\n")
	}
}

// Merge3 merges the changes from base to ours and from base to theirs.
// When both change the same lines differently, ok is false and the result
// holds both versions between conflict markers.
func Merge3(base, ours, theirs []byte) (merged []byte, ok bool) {
	b, o, t := splitLines(base), splitLines(ours), splitLines(theirs)
	ho, ht := lineDiff(b, o), lineDiff(b, t)
	var out bytes.Buffer
	ok = true
	pos := 0 // next base line to copy
	i, j := 0, 0
	for i < len(ho) || j < len(ht) {
		// Take the next hunk by base position, then every hunk of either
		// side that overlaps the growing region.
		var lo, hi int
		switch {
		case j >= len(ht) || (i < len(ho) && ho[i].a0 <= ht[j].a0):
			lo, hi = ho[i].a0, ho[i].a1
		default:
			lo, hi = ht[j].a0, ht[j].a1
		}
		oi, tj := i, j
		for {
			grew := false
			for oi < len(ho) && overlaps(ho[oi], lo, hi) {
				hi = max(hi, ho[oi].a1)
				oi++
				grew = true
			}
			for tj < len(ht) && overlaps(ht[tj], lo, hi) {
				hi = max(hi, ht[tj].a1)
				tj++
				grew = true
			}
			if !grew {
				break
			}
		}
		for ; pos < lo; pos++ {
			out.WriteString(b[pos])
		}
		oursPart := side(b, o, ho[i:oi], lo, hi)
		theirsPart := side(b, t, ht[j:tj], lo, hi)
		switch {
		case oi == i: // only theirs changed
			out.WriteString(theirsPart)
		case tj == j: // only ours changed
			out.WriteString(oursPart)
		case oursPart == theirsPart:
			out.WriteString(oursPart)
		default:
			ok = false
			out.WriteString("<<<<<<< yours\n" + ensureNL(oursPart) + "=======\n" + ensureNL(theirsPart) + ">>>>>>> micro-new\n")
		}
		pos = hi
		i, j = oi, tj
	}
	for ; pos < len(b); pos++ {
		out.WriteString(b[pos])
	}
	return out.Bytes(), ok
}

// overlaps reports whether h touches base lines [lo, hi); insertions at the
// same point count as touching.
func overlaps(h hunk, lo, hi int) bool {
	return h.a0 < hi || (h.a0 == hi && h.a0 == h.a1 && lo == hi) || (h.a0 == lo && lo == hi)
}

// side is base lines [lo, hi) with one side's hunks (all within) applied.
func side(base, text []string, hunks []hunk, lo, hi int) string {
	var s strings.Builder
	pos := lo
	for _, h := range hunks {
		for ; pos < h.a0; pos++ {
			s.WriteString(base[pos])
		}
		for x := h.b0; x < h.b1; x++ {
			s.WriteString(text[x])
		}
		pos = h.a1
	}
	for ; pos < hi; pos++ {
		s.WriteString(base[pos])
	}
	return s.String()
}

func ensureNL(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}
