//go:build unix

package spawn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seedmicro/micro/core/plugin/lock"
)

// OpenBinary opens the binary at path for reading and checks it (see
// doc.go): no symbolic link in its path, a regular file, not writable by
// group or others.
func OpenBinary(path string) (*os.File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open("/", dirFlags, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	cur := "/"
	if err := checkDir(fd, cur); err != nil {
		unix.Close(fd)
		return nil, err
	}
	parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	for i, part := range parts {
		flags := dirFlags
		if i == len(parts)-1 {
			flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW
		}
		next := filepath.Join(cur, part)
		nfd, err := openat(fd, part, flags)
		unix.Close(fd)
		if err == nil && i < len(parts)-1 {
			if cerr := checkDir(nfd, next); cerr != nil {
				unix.Close(nfd)
				return nil, cerr
			}
		}
		if err != nil {
			if fi, lerr := os.Lstat(next); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, symlinkError(abs, next)
			}
			return nil, &fs.PathError{Op: "open", Path: next, Err: err}
		}
		fd, cur = nfd, next
	}
	f := os.NewFile(uintptr(fd), abs)
	if err := checkMode(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openat is unix.Openat, again after EINTR.
func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

func symlinkError(path, link string) error {
	var msg string
	if link == path {
		msg = fmt.Sprintf("%s is a symbolic link: a plugin binary must not be a link", link)
	} else {
		msg = fmt.Sprintf("%s, a directory on the plugin's path, is a symbolic link: a plugin must not sit in a symlinked directory", link)
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		msg += fmt.Sprintf("; name it by its real path, %s (for a plugin directory, set %s to the real directory)", real, lock.EnvPluginDir)
	}
	return unsafeBinary("%s", msg)
}

// checkDir applies lock.CheckInfo to the directory opened as fd, whose path
// is path: what was opened is what is checked.
func checkDir(fd int, path string) error {
	var st syscall.Stat_t
	for {
		err := syscall.Fstat(fd, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EINTR) {
			return &fs.PathError{Op: "fstat", Path: path, Err: err}
		}
	}
	return lock.CheckInfo(path, statInfo{name: filepath.Base(path), st: &st}, false)
}

// statInfo is the fs.FileInfo of a stat_t.
type statInfo struct {
	name string
	st   *syscall.Stat_t
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) ModTime() time.Time { return time.Time{} }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return s.st }

func (s statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	if s.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFREG:
	default:
		m |= fs.ModeIrregular
	}
	return m
}
