//go:build unix

package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownerFile holds the process ID of the micro-new that holds the plugin
// directory's lock, for the message of one that waits.
const ownerFile = ".micro-new.owner"

// lockDir takes an exclusive lock on the plugin directory for the length of
// an install or removal, so that two at once cannot lose a lock file update.
// While another process holds it, wait is called once with its process ID
// (0 when unknown) and lockDir waits, until ctx is done.
func lockDir(ctx context.Context, dir string, wait func(pid int)) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		if !waited && wait != nil {
			wait(lockOwner(dir))
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	owner := filepath.Join(dir, ownerFile)
	os.WriteFile(owner, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	return func() {
		os.Remove(owner)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// tryLockDir takes the plugin directory's lock if no one holds it.
func tryLockDir(dir string) (unlock func(), ok bool) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, true
}

func lockOwner(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// processGone reports whether no process has the ID pid.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}
