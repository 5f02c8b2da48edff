package plugin

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"

	"lukechampine.com/blake3"
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

// Pin is what a plugin binary must hash to before it is started: its
// SHA-256, its BLAKE3-256, or both, each 32 bytes. The host computes one of
// them from the opened binary before every launch: BLAKE3 when the pin has
// it, else SHA-256.
//
// SHA-256 is the checksum that catalogs and lock files publish and that
// sha256sum checks. BLAKE3 is an order of magnitude faster on processors
// without SHA instructions (a 31 MiB binary hashes in about 24 ms instead of
// 176 ms on one such core), which is most of a plugin's start-up time:
// `micro-new install` checks the SHA-256 of what it installs against the
// pin and records both digests of that very file in the plugin directory's
// lock, so that a service checks the faster one at every launch.
type Pin struct {
	SHA256 []byte
	BLAKE3 []byte
}

// check says what is wrong with a pin; a nil pin verifies nothing.
func (p *Pin) check() error {
	if p == nil {
		return nil
	}
	if p.SHA256 == nil && p.BLAKE3 == nil {
		return errors.New("no checksum pinned")
	}
	if p.SHA256 != nil && len(p.SHA256) != sha256.Size {
		return fmt.Errorf("the pinned SHA-256 checksum is %d bytes; want %d", len(p.SHA256), sha256.Size)
	}
	if p.BLAKE3 != nil && len(p.BLAKE3) != blake3Size {
		return fmt.Errorf("the pinned BLAKE3 checksum is %d bytes; want %d", len(p.BLAKE3), blake3Size)
	}
	return nil
}

const blake3Size = 32

// hashFile returns the digest of the content of f, read from its start:
// BLAKE3-256 if b3, else SHA-256.
func hashFile(f *os.File, b3 bool) ([]byte, error) {
	var h hash.Hash
	if b3 {
		h = blake3.New(blake3Size, nil)
	} else {
		h = sha256.New()
	}
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, 1<<62), buf); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// verify checks f, whose path is path, against pin (nil: no checksum).
func verify(f *os.File, name, path string, pin *Pin) error {
	if pin == nil {
		return nil
	}
	alg, want := "SHA-256", pin.SHA256
	if pin.BLAKE3 != nil {
		alg, want = "BLAKE3", pin.BLAKE3
	}
	got, err := hashFile(f, pin.BLAKE3 != nil)
	if err != nil {
		return fmt.Errorf("plugin %s: hash %s: %w", name, path, err)
	}
	if !bytes.Equal(got, want) {
		return &wrapError{
			msg: fmt.Sprintf("plugin %s: checksum mismatch: %s has the %s checksum %x, not the pinned %x; not started", name, path, alg, got, want),
			err: ErrChecksumMismatch,
		}
	}
	return nil
}
