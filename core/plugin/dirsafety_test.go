package plugin_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
)

// TestUnsafePluginDirectoryIsRefused is issue 12, item 1: a plugin
// directory (or a directory above it) that another user may write lets that
// user rename a binary and a lock of their own over the plugin's. The host
// refuses it as it refuses such a binary, before anything is started: a
// directory writable by group or others unless sticky and owned by root, or
// owned by another user than this one or root. (Symbolic links on the path
// are TestSymlinkedBinaryIsNotStarted's.)
func TestUnsafePluginDirectoryIsRefused(t *testing.T) {
	sum := selfSum(t)
	cases := []struct {
		name   string
		root   bool // needs root, to give a directory to another user
		mangle func(t *testing.T, top, dir string)
		msg    string
	}{
		{name: "group-writable plugin directory", msg: "writable by group or others",
			mangle: func(t *testing.T, _, dir string) { chmod(t, dir, 0o775) }},
		{name: "others-writable directory above it", msg: "writable by group or others",
			mangle: func(t *testing.T, top, _ string) { chmod(t, top, 0o757) }},
		{name: "sticky directory above it not owned by root", root: true, msg: "not a sticky directory owned by root",
			mangle: func(t *testing.T, top, _ string) {
				chmod(t, top, os.ModeSticky|0o777)
				chown(t, top, 65534)
			}},
		{name: "plugin directory of another user", root: true, msg: "is owned by uid 65534",
			mangle: func(t *testing.T, _, dir string) { chown(t, dir, 65534) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("giving a directory to another user takes root")
			}
			top := t.TempDir()
			dir := filepath.Join(top, "plugins")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := copySelf(t, dir, "micro-plugin-store-test", 0o755)
			tc.mangle(t, top, dir)
			refusedBeforeExec(t, path, plugin.ErrUnsafeBinary, tc.msg, plugin.WithChecksum(sum))
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		t.Fatal(err)
	}
}
