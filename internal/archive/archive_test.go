package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/internal/archive"
	"github.com/seedmicro/micro/internal/archive/archivetest"
	"github.com/seedmicro/micro/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// Hostile archives, by the entries that make them so. Each is fed to both
// formats, except what zip cannot express.
var hostile = []struct {
	name    string
	entries []archivetest.Entry
	want    string
	tarOnly bool
}{
	{"dot-dot", []archivetest.Entry{{Name: "../evil", Body: "x"}}, `".." in path`, false},
	{"nested dot-dot", []archivetest.Entry{{Name: "a/../../evil", Body: "x"}}, `".." in path`, false},
	{"absolute path", []archivetest.Entry{{Name: "/tmp/evil", Body: "x"}}, "absolute path", false},
	{"backslash dot-dot", []archivetest.Entry{{Name: `..\evil`, Body: "x"}}, "backslash", false},
	{"symlink escaping up", []archivetest.Entry{{Name: "l", Type: tar.TypeSymlink, Linkname: "../../etc"}, {Name: "l/passwd", Body: "x"}}, "points outside", false},
	{"symlink absolute", []archivetest.Entry{{Name: "l", Type: tar.TypeSymlink, Linkname: "/etc/passwd"}}, "points outside", false},
	{"symlink deep escape", []archivetest.Entry{{Name: "a/b/l", Type: tar.TypeSymlink, Linkname: "../../../x"}}, "points outside", false},
	{"hard link escaping", []archivetest.Entry{{Name: "h", Type: tar.TypeLink, Linkname: "../outside"}}, "hard link", true},
	{"hard link absolute", []archivetest.Entry{{Name: "h", Type: tar.TypeLink, Linkname: "/etc/passwd"}}, "hard link", true},
	{"hard link to a symlink", []archivetest.Entry{{Name: "l", Type: tar.TypeSymlink, Linkname: "x"}, {Name: "h", Type: tar.TypeLink, Linkname: "l"}}, "not a regular file", true},
	{"character device", []archivetest.Entry{{Name: "dev", Type: tar.TypeChar}}, "device file", false},
	{"block device", []archivetest.Entry{{Name: "dev", Type: tar.TypeBlock}}, "device file", true},
	{"fifo", []archivetest.Entry{{Name: "fifo", Type: tar.TypeFifo}}, "", false},
	{"file over the per-file cap", []archivetest.Entry{{Name: "bomb", Size: 1 << 20}}, "decompression bomb", false},
	{"files over the total cap", []archivetest.Entry{{Name: "a", Size: 600 << 10}, {Name: "b", Size: 600 << 10}, {Name: "c", Size: 600 << 10}}, "decompression bomb", false},
	{"too many entries", manyEntries(101), "more than 100 entries", false},
	{"duplicate entry", []archivetest.Entry{{Name: "bin", Body: "a"}, {Name: "bin", Body: "b"}}, "listed twice", false},
	{"write through an inner link to outside", []archivetest.Entry{{Name: "d", Type: tar.TypeSymlink, Linkname: "."}, {Name: "d/../../x", Body: "x"}}, `".."`, false},
}

func manyEntries(n int) []archivetest.Entry {
	es := make([]archivetest.Entry, n)
	for i := range es {
		es[i] = archivetest.Entry{Name: "f" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + "/" + string(rune('a'+i/26)), Body: "x"}
	}
	return es
}

var testLimits = archive.Limits{MaxFileSize: 1<<20 - 1, MaxTotalSize: 1 << 20, MaxEntries: 100}

func extract(t *testing.T, format string, data []byte) (dir string, err error) {
	t.Helper()
	parent := t.TempDir()
	dir = filepath.Join(parent, "root")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if format == "zip" {
		err = archive.ExtractZip(root, bytes.NewReader(data), int64(len(data)), testLimits)
	} else {
		err = archive.ExtractTarGz(root, bytes.NewReader(data), testLimits)
	}
	// Nothing may appear beside the root, whatever happened.
	if es, _ := os.ReadDir(parent); len(es) != 1 {
		t.Errorf("extraction wrote outside its root: %v", es)
	}
	return dir, err
}

func TestHostileArchivesAreRefused(t *testing.T) {
	for _, tt := range hostile {
		for _, format := range []string{"tar.gz", "zip"} {
			if format == "zip" && tt.tarOnly {
				continue
			}
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				var data []byte
				if format == "zip" {
					data = archivetest.Zip(t, tt.entries...)
				} else {
					data = archivetest.TarGz(t, tt.entries...)
				}
				_, err := extract(t, format, data)
				if err == nil {
					t.Fatal("extracted a hostile archive")
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q, want it to say %q", err, tt.want)
				}
				if strings.Contains(tt.name, " cap") && !errors.Is(err, archive.ErrTooLarge) {
					t.Errorf("error %v does not match ErrTooLarge", err)
				}
			})
		}
	}
}

// A zip whose headers understate the size of an entry is still capped.
func TestZipLyingHeaderIsCapped(t *testing.T) {
	data := archivetest.Zip(t, archivetest.Entry{Name: "bomb", Size: 2 << 20})
	// Patch the sizes in the central directory and local header to 10 bytes.
	// archive/zip then refuses the entry for its wrong size, or our count
	// refuses it first: either way it is not extracted whole.
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if z.File[0].UncompressedSize64 != 2<<20 {
		t.Fatal("unexpected archive")
	}
	patched := bytes.ReplaceAll(data, le32(2<<20), le32(10))
	dir, err := extract(t, "zip", patched)
	if err == nil {
		t.Fatal("extracted an entry longer than its header says")
	}
	if fi, err := os.Stat(filepath.Join(dir, "bomb")); err == nil && fi.Size() > testLimits.MaxFileSize {
		t.Errorf("wrote %d bytes", fi.Size())
	}
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func TestGoodArchive(t *testing.T) {
	entries := []archivetest.Entry{
		{Name: "./plugin/", Type: tar.TypeDir},
		{Name: "plugin/bin/micro-plugin-broker-x", Body: "binary", Mode: 0o777},
		{Name: "plugin/README", Body: "readme", Mode: 0o666},
		{Name: "plugin/current", Type: tar.TypeSymlink, Linkname: "bin/micro-plugin-broker-x"},
		{Name: "plugin/bin/up", Type: tar.TypeSymlink, Linkname: "../README"},
		{Name: "plugin/hard", Type: tar.TypeLink, Linkname: "plugin/README"},
	}
	for _, format := range []string{"tar.gz", "zip"} {
		t.Run(format, func(t *testing.T) {
			var data []byte
			es := entries
			if format == "zip" {
				es = es[:5] // zip has no hard links
				data = archivetest.Zip(t, es...)
			} else {
				data = archivetest.TarGz(t, es...)
			}
			dir, err := extract(t, format, data)
			if err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, "plugin", "bin", "micro-plugin-broker-x")
			if b, err := os.ReadFile(filepath.Join(dir, "plugin", "current")); err != nil || string(b) != "binary" {
				t.Errorf("link to the binary: %q, %v", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "plugin", "bin", "up")); err != nil || string(b) != "readme" {
				t.Errorf("link up a level: %q, %v", b, err)
			}
			fi, err := os.Stat(bin)
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("binary mode %v (%v), want 0755: never group- or other-writable", fi.Mode(), err)
			}
			if fi, err := os.Stat(filepath.Join(dir, "plugin", "README")); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("README mode %v, want 0644", fi.Mode())
			}
			if format == "tar.gz" {
				if b, err := os.ReadFile(filepath.Join(dir, "plugin", "hard")); err != nil || string(b) != "readme" {
					t.Errorf("hard link: %q, %v", b, err)
				}
			}
		})
	}
}

func FuzzExtractTarGz(f *testing.F) {
	f.Add(archivetest.TarGz(f, archivetest.Entry{Name: "a/b", Body: "x"}, archivetest.Entry{Name: "l", Type: tar.TypeSymlink, Linkname: "a/b"}))
	f.Add(archivetest.TarGz(f, archivetest.Entry{Name: "../x", Body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExtract(t, "tar.gz", data) })
}

func FuzzExtractZip(f *testing.F) {
	f.Add(archivetest.Zip(f, archivetest.Entry{Name: "a/b", Body: "x"}, archivetest.Entry{Name: "l", Type: tar.TypeSymlink, Linkname: "a/b"}))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzExtract(t, "zip", data) })
}

// fuzzExtract checks that whatever the bytes, nothing is written outside the
// root and no symbolic link inside it points outside.
func fuzzExtract(t *testing.T, format string, data []byte) {
	dir, _ := extract(t, format, data)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, _ := os.Readlink(p)
		resolved := filepath.Join(filepath.Dir(p), target)
		if filepath.IsAbs(target) || !strings.HasPrefix(resolved, dir) {
			t.Fatalf("symbolic link %s → %s points outside", p, target)
		}
		return nil
	})
}
