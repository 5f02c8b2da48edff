//go:build unix

package spawn

import (
	"errors"
	"io/fs"
	"syscall"
)

const socketsSupported = true

// processAlive says whether the process pid exists (signal 0 reaches it,
// or it exists but belongs to another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func ownerOf(fi fs.FileInfo) (int, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), true
	}
	return 0, false
}
