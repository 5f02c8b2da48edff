package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/seedmicro/micro/internal/install"
)

// builtFrom is the checkout of micro that this micro-new was built from,
// recorded at build time by `make install`, which runs
//
//	go install -ldflags "-X main.builtFrom=$PWD" ./cmd/micro-new
//
// Plugins of micro are built from it when micro-new runs outside a checkout.
var builtFrom string

// builtRevision is the git revision of builtFrom when micro-new was built,
// recorded by `make install` too (-X main.builtRevision=...), for builds where
// Go records no VCS information.
var builtRevision string

// source is where the plugins of the micro module are built from.
type source struct {
	dir     string // a checkout of micro, or ""
	how     string // how dir was found, for doctor
	version string // with dir == "": the released version to fetch
	err     error  // with dir == "" and version == "": why neither, and what to run
}

// findSource finds the source of micro's plugins, in this order:
// $MICRO_SOURCE_DIR; the checkout around the working directory; the checkout
// micro-new was built from (recorded with -ldflags -X, or the path compiled
// into a build without -trimpath), when it is still at the revision
// micro-new was built at; the module at micro-new's own version, for a
// released micro-new. Otherwise err says exactly what to run.
func findSource(ctx context.Context, e *env, goCmd string) source {
	if dir := e.getenv(envSourceDir); dir != "" {
		if err := isMicroCheckout(dir); err != nil {
			return source{err: fmt.Errorf("$%s=%s: %w\n  to fix: set it to a checkout of %s, or unset it", envSourceDir, dir, err, install.MicroModule)}
		}
		return source{dir: dir, how: "$" + envSourceDir}
	}
	if dir := install.FindSourceDir(ctx, goCmd, e.wd); dir != "" {
		return source{dir: dir, how: "the checkout around the working directory"}
	}
	rev, modified := buildRevision()
	if builtRevision != "" {
		rev = builtRevision
	}
	var stale error
	staleDir := ""
	for _, c := range []struct{ dir, how string }{
		{builtFrom, "the checkout micro-new was built from (make install)"},
		{compiledIn(), "the checkout micro-new was built in"},
	} {
		if c.dir == "" {
			continue
		}
		err := checkBuiltFrom(c.dir, rev, modified, gitHead)
		if err == nil {
			return source{dir: c.dir, how: c.how}
		}
		if stale == nil {
			stale, staleDir = err, c.dir
		}
	}
	if v := releaseVersion(); v != "" {
		return source{version: v, how: "module " + install.MicroModule + "@" + v + ", through the Go module proxy"}
	}
	fix := fmt.Sprintf("run `make install` in a checkout of %s (it records the checkout in micro-new), or set %s to a checkout, or install a released micro-new: go install %s/cmd/micro-new@latest",
		install.MicroModule, envSourceDir, install.MicroModule)
	if stale != nil {
		if isMicroCheckout(staleDir) == nil {
			fix = fmt.Sprintf("run `make install` again in %s, or set %s=%s to build from it as it is now", staleDir, envSourceDir, staleDir)
		}
		return source{err: fmt.Errorf("%w\n  to fix: %s", stale, fix)}
	}
	return source{err: fmt.Errorf("micro-new is a development build (%s) and does not know where its source is: it cannot build the plugins of %s\n  to fix: %s", version(), install.MicroModule, fix)}
}

// checkBuiltFrom checks that dir is a checkout of micro and, when the
// revision micro-new was built at is known and git can tell dir's, that it is
// still at it.
func checkBuiltFrom(dir, builtRev string, modified bool, head func(string) (string, error)) error {
	if err := isMicroCheckout(dir); err != nil {
		return fmt.Errorf("micro-new was built from %s, and %w", dir, err)
	}
	if builtRev == "" {
		return nil
	}
	cur, err := head(dir)
	if err != nil {
		return nil // not a git checkout, or no git: nothing to compare
	}
	if cur != builtRev {
		state := ""
		if modified {
			state = " with local changes"
		}
		return fmt.Errorf("micro-new was built from %s at revision %s%s, and the checkout is now at %s: plugins built from it may not match this micro-new", dir, short(builtRev), state, short(cur))
	}
	return nil
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// isMicroCheckout checks that dir holds the go.mod of the micro module.
func isMicroCheckout(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s has no go.mod (moved or deleted?)", dir)
		}
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			if m := strings.Trim(f[1], `"`); m != install.MicroModule {
				return fmt.Errorf("%s is module %s, not %s", dir, m, install.MicroModule)
			}
			return nil
		}
	}
	return fmt.Errorf("%s/go.mod names no module", dir)
}

// compiledIn returns the checkout this file was compiled in, for a build
// without -trimpath (go install ./cmd/micro-new), or "".
func compiledIn() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))) // .../cmd/micro-new/source.go
}

// buildRevision returns the VCS revision micro-new was built at, if recorded.
func buildRevision() (rev string, modified bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified
}

// gitHead returns the revision a git checkout is at.
func gitHead(dir string) (string, error) {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// version is micro-new's module version, "(devel)" for a build from a checkout.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// releaseVersion is the module version of a released micro-new, or "": a
// development build, one with local changes, or a pseudo-version that Go
// stamps on a build from a checkout (the module proxy cannot have it).
func releaseVersion() string {
	return released(version())
}

func released(v string) string {
	if !semver.IsValid(v) || strings.Contains(v, "+dirty") || module.IsPseudoVersion(v) {
		return ""
	}
	return v
}
