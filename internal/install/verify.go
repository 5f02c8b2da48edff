package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
)

// Check statuses.
const (
	StatusOK        = "ok"
	StatusModified  = "modified"             // the sha256 differs from the lock
	StatusMissing   = "missing"              // in the lock, not on disk
	StatusUnsafe    = "unsafe"               // a link, not a regular file, or writable by group or others
	StatusUnpinned  = "unpinned"             // the lock has no sha256 for this platform
	StatusUntracked = "untracked"            // a plugin binary on disk that the lock does not list
	StatusMismatch  = "differs-from-project" // installed, but not what the project pins
)

// Check is the verdict on one plugin.
type Check struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Catalog string `json:"catalog,omitempty"`
	Path    string `json:"path"`
	Status  string `json:"status"`
	Want    string `json:"want,omitempty"`
	Got     string `json:"got,omitempty"`
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// OK reports whether the check passed. An untracked binary is a warning.
func (c Check) OK() bool { return c.Status == StatusOK || c.Status == StatusUntracked }

// Verify re-hashes every plugin of the lock against it, and checks what the
// plugin host checks before a launch, with the host's own rule
// (pluginlock.CheckInfo): the binary and every directory above it up to the
// root are not links, not writable by group or others (a directory may be
// if sticky and owned by root), and owned by this user or root; the binary
// is a regular file. An unsafe plugin's Problem lists every reason. project, when not nil, is a project's lock: an installed
// plugin whose sha256 differs from the project's pin fails too.
func (in *Installer) Verify(ctx context.Context, project *pluginlock.File, projectPath string) ([]Check, error) {
	in.SweepStaging()
	lock, err := in.Installed()
	if err != nil {
		return nil, err
	}
	var checks []Check
	listed := map[string]bool{}
	var dirUnsafe []error
	if len(lock.Plugins) > 0 {
		dirUnsafe = pluginlock.CheckDir(in.dir)
	}
	for _, p := range lock.Plugins {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := in.BinaryPath(p.Name)
		listed[filepath.Base(path)] = true
		c := Check{Name: p.Name, Version: p.Version, Catalog: p.Catalog, Path: path, Want: p.SHA256[in.platform]}
		ref := p.Name
		if p.Catalog != "" && p.Catalog != "builtin" {
			ref = p.Catalog + ":" + p.Name
		}
		if p.Version != "" && p.Version != "local" {
			ref += "@" + p.Version
		}
		c.Fix = "micro-new install " + ref
		fi, err := os.Lstat(path)
		var unsafe []error
		if err == nil {
			// The host's rule, for the binary and every directory above it.
			unsafe = append(slices.Clone(dirUnsafe), pluginlock.CheckInfo(path, fi, true))
			unsafe = slices.DeleteFunc(unsafe, func(e error) bool { return e == nil })
		}
		switch {
		case err != nil:
			c.Status, c.Problem = StatusMissing, fmt.Sprintf("%s is missing", path)
		case len(unsafe) > 0:
			c.Status, c.Problem = StatusUnsafe, unsafeProblem(unsafe)
		case c.Want == "":
			c.Status, c.Problem = StatusUnpinned, fmt.Sprintf("the lock has no sha256 for %s", in.platform)
		default:
			var b3 string
			c.Got, b3, err = pluginlock.HashFileBoth(path)
			want3, has3 := p.BLAKE3[in.platform]
			if err != nil {
				c.Status, c.Problem = StatusMissing, err.Error()
			} else if c.Got != c.Want {
				c.Status, c.Problem = StatusModified, fmt.Sprintf("sha256 of %s is %s, but %s pins %s: the binary changed after it was installed", path, c.Got, filepath.Join(in.dir, pluginlock.FileName), c.Want)
			} else if has3 && b3 != want3 {
				// What a service checks before a launch: it would refuse.
				c.Status, c.Problem = StatusModified, fmt.Sprintf("BLAKE3 of %s is %s, but %s records %s: the lock was edited after the install", path, b3, filepath.Join(in.dir, pluginlock.FileName), want3)
			} else {
				c.Status = StatusOK
			}
		}
		if c.Status == StatusOK && project != nil {
			if pin, ok := project.Get(p.Name); ok {
				if want, ok := pin.SHA256[in.platform]; ok && want != c.Got {
					c.Status = StatusMismatch
					c.Problem = fmt.Sprintf("installed %s has sha256 %s, but the project lock %s pins %s %s with %s", p.Version, c.Got, projectPath, pin.Name, pin.Version, want)
					c.Fix = "micro-new install (in the project: installs what it pins)"
				}
			}
		}
		if c.Status == StatusUnsafe && len(dirUnsafe) > 0 {
			// Reinstalling fixes the binary, not the directories.
			c.Fix = unsafeFix(dirUnsafe)
		}
		if c.OK() {
			c.Fix = ""
		}
		checks = append(checks, c)
	}
	entries, err := os.ReadDir(in.dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "micro-plugin-") && !listed[e.Name()] {
			checks = append(checks, Check{Name: e.Name(), Path: filepath.Join(in.dir, e.Name()), Status: StatusUntracked,
				Problem: "not in the lock: the plugin host will refuse it", Fix: "micro-new install <kind>/<name> (or delete it)"})
		}
	}
	return checks, nil
}

// unsafeProblem says every reason of errs, the refusals of the host's rule
// (pluginlock.CheckInfo), in one line.
func unsafeProblem(errs []error) string {
	var parts []string
	for _, err := range errs {
		var ue *pluginlock.UnsafeError
		if errors.As(err, &ue) {
			parts = append(parts, ue.Path+" "+ue.Problem)
		} else {
			parts = append(parts, err.Error())
		}
	}
	return "the plugin host refuses to start it: " + strings.Join(parts, "; ")
}

// unsafeFix is the fixes of errs, in one line.
func unsafeFix(errs []error) string {
	var fixes []string
	for _, err := range errs {
		var ue *pluginlock.UnsafeError
		if errors.As(err, &ue) && ue.Fix != "" && !slices.Contains(fixes, ue.Fix) {
			fixes = append(fixes, ue.Fix)
		}
	}
	if len(fixes) == 0 {
		return "use a plugin directory that only you can write (set " + pluginlock.EnvPluginDir + ")"
	}
	return strings.Join(fixes, "; ")
}

// Remove uninstalls the named plugin: its binary and its lock entry. On error
// the plugin directory is as it was.
func (in *Installer) Remove(ctx context.Context, name string) error {
	lock, err := in.Installed()
	if err != nil {
		return err
	}
	final := in.BinaryPath(name)
	_, inLock := lock.Get(name)
	if _, err := os.Lstat(final); err != nil && !inLock {
		return &Error{Plugin: name, Op: "remove", Err: fmt.Errorf("not installed in %s", in.dir), Fix: "`micro-new list --installed` shows what is installed"}
	}
	unlock, err := lockDir(ctx, in.dir, in.lockWait)
	if err != nil {
		return &Error{Plugin: name, Op: "remove", Err: err}
	}
	defer unlock()
	sweepStaging(in.dir)
	staging, err := newStaging(in.dir)
	if err != nil {
		return &Error{Plugin: name, Op: "remove", Err: err}
	}
	defer os.RemoveAll(staging)
	if err := in.commit(staging, "", final, func(l *pluginlock.File) { l.Delete(name) }); err != nil {
		return &Error{Plugin: name, Op: "remove", Err: err}
	}
	return nil
}
