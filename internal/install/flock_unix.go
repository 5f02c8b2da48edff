//go:build unix

package install

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on the plugin directory for the length of
// an install or removal, so that two at once cannot lose a lock file update.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
