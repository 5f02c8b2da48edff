package lock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrUnsafe is matched (errors.Is) by the errors of CheckInfo and CheckDir:
// a plugin binary, or a directory on its path, that the plugin host refuses
// to start a plugin from. core/plugin's ErrUnsafeBinary is this error.
var ErrUnsafe = errors.New("plugin: unsafe binary")

// UnsafeError is one reason the plugin host refuses a plugin binary: what
// is wrong with one component of its path, and how to fix it.
type UnsafeError struct {
	Path    string
	Problem string // what is wrong, a sentence without the path
	Fix     string // a command or step that fixes it; may be empty
}

func (e *UnsafeError) Error() string {
	s := e.Path + " " + e.Problem
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// Unwrap makes an UnsafeError match ErrUnsafe.
func (e *UnsafeError) Unwrap() error { return ErrUnsafe }

// CheckInfo applies the one rule that the plugin host applies, before every
// launch, to a plugin binary and to every directory above it up to the root,
// and that `micro-new verify` reports on. fi describes path, as Lstat (or,
// for a file already opened without following links, Stat) gives it;
// binary says whether path is the binary (else a directory above it).
//
//   - No component may be a symbolic link: a link's target can be changed
//     by whoever owns the directory holding the link.
//   - The binary must be a regular file that neither group nor others may
//     write.
//   - A directory must not be writable by group or others, unless it is
//     sticky and owned by root (as /tmp is), where others may add files but
//     not rename or remove the files of others.
//   - Every component must be owned by the user running the host or by
//     root: whoever owns a directory may rename a binary and a lock of
//     their own over the originals.
//
// It returns nil or an *UnsafeError. Windows has no such modes and owners;
// there only links and non-regular files are refused.
func CheckInfo(path string, fi fs.FileInfo, binary bool) error {
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 {
		what := "is a symbolic link: a plugin binary must not be a link"
		if !binary {
			what = "is a symbolic link on the plugin's path: a plugin must not sit in a symlinked directory"
		}
		fix := ""
		if real, err := filepath.EvalSymlinks(path); err == nil {
			fix = fmt.Sprintf("name it by its real path, %s (for a plugin directory, set %s to the real directory)", real, EnvPluginDir)
		}
		return &UnsafeError{Path: path, Problem: what, Fix: fix}
	}
	if binary && !mode.IsRegular() {
		return &UnsafeError{Path: path, Problem: "is not a regular file: a plugin binary must be one"}
	}
	if !binary && !fi.IsDir() {
		return &UnsafeError{Path: path, Problem: "is not a directory, yet on the plugin's path"}
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	uid, hasUID := owner(fi)
	if perm := mode.Perm(); perm&0o022 != 0 {
		if binary {
			return &UnsafeError{Path: path,
				Problem: fmt.Sprintf("is writable by group or others (mode %v): anyone in them could replace the plugin", perm),
				Fix:     "run chmod go-w " + path}
		}
		if mode&fs.ModeSticky == 0 || !hasUID || uid != 0 {
			return &UnsafeError{Path: path,
				Problem: fmt.Sprintf("is a directory on the plugin's path writable by group or others (mode %v) and not a sticky directory owned by root: anyone in them could rename a binary and a lock of their own over the plugin's", mode&(fs.ModeDir|fs.ModeSticky|fs.ModePerm)),
				Fix:     "run chmod go-w " + path + " (or use a plugin directory that only you can write)"}
		}
	}
	if me := os.Geteuid(); hasUID && uid != 0 && uid != me {
		return &UnsafeError{Path: path,
			Problem: fmt.Sprintf("is owned by uid %d, neither this user (uid %d) nor root: its owner could replace the plugin", uid, me),
			Fix:     "use a plugin directory of your own (set " + EnvPluginDir + ") or chown it to yourself"}
	}
	return nil
}

// CheckDir checks the plugin directory dir and every directory above it up
// to the root with CheckInfo, and returns every refusal, nearest first; an
// empty result means the plugin host accepts the directories. A directory
// that cannot be examined is an error too.
func CheckDir(dir string) []error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for p := abs; ; {
		fi, err := os.Lstat(p)
		if err != nil {
			errs = append(errs, err)
		} else if err := CheckInfo(p, fi, false); err != nil {
			errs = append(errs, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return errs
		}
		p = parent
	}
}
