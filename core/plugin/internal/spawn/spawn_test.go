//go:build unix

package spawn_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/plugin/internal/spawn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpenBinary(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := spawn.OpenBinary(good)
	if err != nil {
		t.Fatalf("OpenBinary of a safe binary: %v", err)
	}
	f.Close()

	writable := filepath.Join(dir, "writable")
	os.WriteFile(writable, []byte("bin"), 0o755)
	os.Chmod(writable, 0o775)
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	shared := filepath.Join(dir, "shared")
	os.Mkdir(shared, 0o755)
	os.WriteFile(filepath.Join(shared, "bin"), []byte("bin"), 0o755)
	os.Chmod(shared, 0o777)
	for _, tt := range []struct{ name, path, msg string }{
		{"group-writable binary", writable, "writable by group or others"},
		{"symbolic link", link, "symbolic link"},
		{"others-writable directory", filepath.Join(shared, "bin"), "not a sticky directory owned by root"},
		{"directory", dir, "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := spawn.OpenBinary(tt.path)
			if err == nil {
				f.Close()
				t.Fatal("OpenBinary succeeded")
			}
			if !errors.Is(err, spawn.ErrUnsafe) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("OpenBinary = %v, want ErrUnsafe saying %q", err, tt.msg)
			}
		})
	}
}

// A socket directory is private, emptied by Clear, removed by Remove, and
// the next one sweeps those of processes that are gone.
func TestSocketDir(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := spawn.NewSocketDir()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: %v, %v; want mode 0700", d.Path(), fi, err)
	}
	os.WriteFile(filepath.Join(d.Path(), "plugin1"), nil, 0o600)
	d.Clear()
	if entries, _ := os.ReadDir(d.Path()); len(entries) != 0 {
		t.Errorf("after Clear: %v", entries)
	}
	// A directory of a pid that does not exist (above the kernel's limit).
	stale := filepath.Join(filepath.Dir(d.Path()), strconv.Itoa(1<<30)+"-1")
	os.Mkdir(stale, 0o700)
	d2, err := spawn.NewSocketDir()
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Remove()
	if _, err := os.Stat(stale); err == nil {
		t.Error("the stale directory was not swept")
	}
	if _, err := os.Stat(d.Path()); err != nil {
		t.Errorf("the directory of a live process was swept: %v", err)
	}
	d.Remove()
	if _, err := os.Stat(d.Path()); err == nil {
		t.Error("Remove left the directory")
	}
}
