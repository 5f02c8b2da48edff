// Package spawn is how the plugin host starts a plugin binary safely: it
// opens the binary without following symbolic links and checks it and the
// directories above it (OpenBinary), starts the very file it opened
// (Command), and lets the plugin name its process after its binary
// (NameProcess).
package spawn

import (
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/plugin/lock"
)

// ErrUnsafe is matched (errors.Is) by the errors of OpenBinary that refuse
// a binary: the binary or a directory on its path is writable by others, is
// a symbolic link, or is not a regular file.
var ErrUnsafe = lock.ErrUnsafe

// Before every launch the host opens the binary, checks it and hashes what
// it opened, and then starts that very file, not its path:
//
//   - Every component of the binary's absolute path is opened relative to
//     the one before, without following symbolic links (openat with
//     O_NOFOLLOW, on Unix), so that a path that goes through a link is
//     refused and no directory can be swapped for a link between the
//     check and the use.
//   - Every directory opened on the way, from the root down, must pass
//     lock.CheckInfo: not writable by group or others unless sticky and
//     owned by root, owned by this user or root. Whoever else could write
//     one could rename a binary and a lock of their own over the plugin's.
//   - The opened file must be a regular file that neither group nor others
//     may write, owned by this user or root (lock.CheckInfo again).
//   - Its digest (Pin: BLAKE3 or SHA-256) is computed from the opened file
//     descriptor.
//   - On Linux the process is started from that descriptor
//     (/proc/self/fd/N in the child), so the file that runs is the file that
//     was hashed even if the path is replaced by another file after the
//     check. The one change that remains possible is a write into the file
//     itself, which takes write permission on it: only its owner (or root)
//     has that, and they can rewrite the lock file that pins the checksum as
//     well. On other systems the process is started from the path, right
//     after the check.
//
// go-plugin's SecureConfig does the same check on the path before it
// starts the path, so the check and the start see possibly different files;
// it is not used.

// unsafeError is a refusal, matching ErrUnsafe.
type unsafeError struct{ msg string }

func (e *unsafeError) Error() string { return e.msg }

func (e *unsafeError) Unwrap() error { return ErrUnsafe }

func unsafeBinary(format string, args ...any) error {
	return &unsafeError{msg: fmt.Sprintf(format, args...)}
}

// checkMode refuses the opened binary f when the plugin directory's rule
// (lock.CheckInfo) does: not a regular file, writable by group or others,
// or owned by another user than this one or root.
func checkMode(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return lock.CheckInfo(f.Name(), fi, true)
}
