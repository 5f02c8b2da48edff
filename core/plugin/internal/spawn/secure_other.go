//go:build !unix

package spawn

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/seedmicro/micro/core/plugin/lock"
)

// OpenBinary opens the binary at path for reading and checks it (see
// doc.go). Without openat, each component of the path is checked with
// Lstat, then the file is opened and must be the one checked.
func OpenBinary(path string) (*os.File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	var checked os.FileInfo
	for p := abs; ; {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, unsafeBinary("%s is a symbolic link in the path of the plugin %s: name it by its real path (for a plugin directory, set %s to the real directory)", p, abs, lock.EnvPluginDir)
		}
		if checked == nil {
			checked = fi
		} else if err := lock.CheckInfo(p, fi, false); err != nil {
			return nil, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !os.SameFile(fi, checked) {
		f.Close()
		return nil, unsafeBinary("%s changed while it was checked", abs)
	}
	if err := checkMode(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
