package plugin

import (
	"bytes"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/plugin/internal/spawn"
	"github.com/seedmicro/micro/core/plugin/lock"
)

// ErrUnsafeBinary is matched (errors.Is) by the error of Open when the
// plugin binary is writable by group or others, is not a regular file, or
// its path goes through a symbolic link, or when a directory on its path is
// unsafe in the same ways (see package doc, Security). The binary was not
// started.
var ErrUnsafeBinary = spawn.ErrUnsafe

// Pin is what a plugin binary must hash to before it is started: its
// SHA-256, its BLAKE3-256, or both (lock.Pin has the details). The host
// computes one of them from the opened binary before every launch: BLAKE3
// when the pin has it, else SHA-256.
type Pin = lock.Pin

// verify checks f, whose path is path, against pin (nil: no checksum).
func verify(f *os.File, name, path string, pin *Pin) error {
	if pin == nil {
		return nil
	}
	alg, want := "SHA-256", pin.SHA256
	if pin.BLAKE3 != nil {
		alg, want = "BLAKE3", pin.BLAKE3
	}
	got, err := lock.Sum(f, pin.BLAKE3 != nil)
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
