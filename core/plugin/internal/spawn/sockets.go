package spawn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// EnvSocketDir is the variable by which go-plugin tells a plugin where to
// make its unix socket (go-plugin's EnvUnixSocketDir).
const EnvSocketDir = "PLUGIN_UNIX_SOCKET_DIR"

// SocketDir is the private directory in which the plugins of one Client
// make their unix sockets: <temp>/micro-plugin-<uid>/<host pid>-<random>,
// mode 0700 below a 0700 directory of the user's. Remove removes it when
// the Client closes; a host that ended without closing leaves it behind,
// and the next NewSocketDir of the same user removes every directory whose
// host process is gone. Without it, each plugin's socket would sit in the
// shared temporary directory, and one would stay there for every plugin
// that did not exit cleanly.
type SocketDir struct{ path string }

// NewSocketDir sweeps the stale socket directories of the user and makes a
// new one for this process. On a platform without unix sockets it returns
// nil, which is no directory.
func NewSocketDir() (*SocketDir, error) {
	if !socketsSupported {
		return nil, nil
	}
	base := filepath.Join(os.TempDir(), "micro-plugin-"+strconv.Itoa(os.Geteuid()))
	// A unix socket's path has at most 104 bytes on some systems: the
	// plugin's is base/<pid>-<10 digits>/plugin<10 digits>.
	if len(base)+42 > 104 {
		base = filepath.Join("/tmp", "micro-plugin-"+strconv.Itoa(os.Geteuid()))
	}
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("plugin socket directory: %w", err)
	}
	fi, err := os.Lstat(base)
	if err != nil {
		return nil, fmt.Errorf("plugin socket directory: %w", err)
	}
	uid, ok := ownerOf(fi)
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ok || uid != os.Geteuid() {
		return nil, fmt.Errorf("plugin socket directory %s is not a directory of mode 0700 owned by this user (uid %d): another user may have made it; remove it, or set TMPDIR to a directory of your own", base, os.Geteuid())
	}
	sweep(base)
	dir, err := os.MkdirTemp(base, strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("plugin socket directory: %w", err)
	}
	return &SocketDir{path: dir}, nil
}

// sweep removes the directories of base whose host process is gone.
func sweep(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		pidText, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(base, e.Name()))
	}
}

// Path returns the directory; "" for a nil SocketDir.
func (d *SocketDir) Path() string {
	if d == nil {
		return ""
	}
	return d.path
}

// Clear removes what the directory holds: the socket of a plugin process
// that ended without removing it, before the next one starts.
func (d *SocketDir) Clear() {
	if d == nil {
		return
	}
	entries, _ := os.ReadDir(d.path)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(d.path, e.Name()))
	}
}

// Remove removes the directory and what it holds.
func (d *SocketDir) Remove() {
	if d != nil {
		os.RemoveAll(d.path)
	}
}
