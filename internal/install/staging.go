package install

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// stagingPrefix starts the name of a staging directory in the plugin
// directory: .micro-new-<pid>-<random>, pid being the installing process.
const stagingPrefix = ".micro-new-"

// newStaging creates a staging directory owned by this process.
func newStaging(dir string) (string, error) {
	return os.MkdirTemp(dir, fmt.Sprintf("%s%d-", stagingPrefix, os.Getpid()))
}

// stagingOwner returns the process ID in a staging directory's name, or 0
// for a name without one (made by an older micro-new).
func stagingOwner(name string) int {
	rest := strings.TrimPrefix(name, stagingPrefix)
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0
	}
	pid, err := strconv.Atoi(p)
	if err != nil {
		return 0
	}
	return pid
}

// sweepStaging removes the staging directories that an install left when it
// was killed: those whose owner process is gone, and those that name no
// owner. It must run with the plugin directory locked, so that no install is
// using one. It returns the names it removed.
func sweepStaging(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), stagingPrefix) {
			continue
		}
		if pid := stagingOwner(e.Name()); pid != 0 && pid != os.Getpid() && !processGone(pid) {
			continue
		} else if pid == os.Getpid() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

// SweepStaging removes the staging directories left by killed installs, if no
// install is running in the plugin directory now (then it leaves them to the
// next install). It returns the names it removed.
func (in *Installer) SweepStaging() []string {
	unlock, ok := tryLockDir(in.dir)
	if !ok {
		return nil
	}
	defer unlock()
	return sweepStaging(in.dir)
}

// notRegularError refuses a file that is not a regular file: a FIFO, which
// would block its reader, a device or a socket.
type notRegularError struct {
	path string
	mode fs.FileMode
}

func (e *notRegularError) Error() string {
	what := "not a regular file"
	switch {
	case e.mode&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case e.mode&fs.ModeDevice != 0 || e.mode&fs.ModeCharDevice != 0:
		what = "a device, not a regular file"
	case e.mode&fs.ModeSocket != 0:
		what = "a socket, not a regular file"
	}
	return fmt.Sprintf("%s is %s: give a plugin binary, an archive (tar.gz, zip) or a Go package directory", e.path, what)
}
