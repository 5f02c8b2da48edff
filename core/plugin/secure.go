package plugin

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// ErrUnsafeBinary is matched (errors.Is) by the error of Open when the
// plugin binary is writable by group or others, is not a regular file, or
// its path goes through a symbolic link. The binary was not started.
var ErrUnsafeBinary = errors.New("plugin: unsafe binary")

// Before every launch the host opens the binary, checks it and hashes what
// it opened, and then starts that very file, not its path:
//
//   - Every component of the binary's absolute path is opened relative to
//     the one before, without following symbolic links (openat with
//     O_NOFOLLOW, on Unix), so that a path that goes through a link is
//     refused and no directory can be swapped for a link between the
//     check and the use.
//   - The opened file must be a regular file that neither group nor others
//     may write.
//   - Its SHA-256 is computed from the opened file descriptor.
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

func unsafeBinary(format string, args ...any) error {
	return &wrapError{msg: fmt.Sprintf(format, args...), err: ErrUnsafeBinary}
}

// checkMode refuses a file that is not a regular file or that group or
// others may write.
func checkMode(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return unsafeBinary("%s is not a regular file", f.Name())
	}
	// Windows has no group and other permissions to check.
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && runtime.GOOS != "windows" {
		return unsafeBinary("%s is writable by group or others (mode %v): anyone in them could replace the plugin; run chmod go-w %s", f.Name(), perm, f.Name())
	}
	return nil
}

// hashFile returns the SHA-256 of the content of f, read from its start.
func hashFile(f *os.File) ([]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, 1<<62), buf); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// verify checks f, whose path is path, against the checksum sum (nil: no
// checksum).
func verify(f *os.File, name, path string, sum []byte) error {
	if sum == nil {
		return nil
	}
	got, err := hashFile(f)
	if err != nil {
		return fmt.Errorf("plugin %s: hash %s: %w", name, path, err)
	}
	if !bytes.Equal(got, sum) {
		return &wrapError{
			msg: fmt.Sprintf("plugin %s: checksum mismatch: %s has the SHA-256 checksum %x, not the pinned %x; not started", name, path, got, sum),
			err: ErrChecksumMismatch,
		}
	}
	return nil
}
