package catalog

import (
	"strings"

	"golang.org/x/mod/semver"
)

// canonical returns v as golang.org/x/mod/semver wants it (with a leading
// "v"), and whether v is a full semantic version: MAJOR.MINOR.PATCH with an
// optional -prerelease and +build. semver alone also takes the shorthands
// v1 and v1.2, which a catalog may not use.
func canonical(v string) (string, bool) {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return v, false
	}
	core := v[1:]
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	return v, strings.Count(core, ".") == 2
}

// ValidVersion reports whether v is a semantic version: MAJOR.MINOR.PATCH with
// an optional -prerelease and +build, and an optional leading "v".
func ValidVersion(v string) bool {
	_, ok := canonical(v)
	return ok
}

func isPrerelease(v string) bool {
	c, ok := canonical(v)
	return ok && semver.Prerelease(c) != ""
}

// CompareVersions compares two semantic versions by precedence and returns -1,
// 0 or +1. A leading "v" and build metadata are ignored. An invalid version
// sorts before every valid one.
func CompareVersions(a, b string) int {
	ca, oka := canonical(a)
	cb, okb := canonical(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	return semver.Compare(ca, cb)
}
