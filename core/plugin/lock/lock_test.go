package lock_test

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sumA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestRoundTripIsDeterministic(t *testing.T) {
	var f pluginlock.File
	f.Put(pluginlock.Plugin{Name: "store/redis", Version: "0.1.0", Source: "s", SHA256: map[string]string{"linux/arm64": sumA, "linux/amd64": sumA}})
	f.Put(pluginlock.Plugin{Name: "broker/rabbitmq", Version: "0.1.0", Catalog: "builtin", Source: "s", SHA256: map[string]string{"linux/amd64": sumA}})
	got := string(f.Marshal())
	want := `{
  "format": 2,
  "plugins": [
    {
      "name": "broker/rabbitmq",
      "version": "0.1.0",
      "catalog": "builtin",
      "source": "s",
      "sha256": {
        "linux/amd64": "` + sumA + `"
      }
    },
    {
      "name": "store/redis",
      "version": "0.1.0",
      "source": "s",
      "sha256": {
        "linux/amd64": "` + sumA + `",
        "linux/arm64": "` + sumA + `"
      }
    }
  ]
}
`
	if got != want {
		t.Fatalf("Marshal:\n%s\nwant:\n%s", got, want)
	}
	path := filepath.Join(t.TempDir(), pluginlock.FileName)
	if err := pluginlock.Write(path, &f); err != nil {
		t.Fatal(err)
	}
	back, err := pluginlock.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Marshal()) != want {
		t.Error("a read lock marshals differently")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("Write left %d files, want 1", len(entries))
	}

	if !back.Delete("store/redis") || back.Delete("store/redis") {
		t.Error("Delete")
	}
	if _, ok := back.Get("store/redis"); ok {
		t.Error("Get after Delete")
	}
}

func TestParseRejects(t *testing.T) {
	tests := map[string]string{
		`{"format": 3, "plugins": []}`:                                                    "format 3",
		`{"format": 1, "plugins": [], "x": 1}`:                                            "unknown field",
		`{"format": 1, "plugins": [{"name": "rabbitmq", "version": "1", "source": "s"}]}`: "want <kind>/<name>",
		`{"format": 1, "plugins": [{"name": "a/b", "version": "1", "source": "s"}, {"name": "a/b", "version": "1", "source": "s"}]}`: "listed twice",
		`{"format": 1, "plugins": [{"name": "a/b", "source": "s"}]}`:                                                                 "no version",
		`{"format": 1, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux": "` + sumA + `"}}]}`:            "GOOS/GOARCH",
		`{"format": 1, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux/amd64": "AB"}}]}`:                "hex",
		`{"format": 1, "plugins": []} {}`: "after the JSON object",
		`{"format": 1, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux/amd64": "` + sumA + `"}, "blake3": {"linux/amd64": "` + sumA + `"}}]}`: "blake3 digests need format 2",
		`{"format": 2, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux/amd64": "` + sumA + `"}, "blake3": {"linux/arm64": "` + sumA + `"}}]}`: "blake3 for linux/arm64 without a sha256",
		`{"format": 2, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux/amd64": "` + sumA + `"}, "blake3": {"linux/amd64": "AB"}}]}`:           "blake3 for linux/amd64: want 64",
	}
	for in, want := range tests {
		if _, err := pluginlock.Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s): %v, want %q", in, err, want)
		}
	}
}

// A lock is written as format 2 with BLAKE3 digests or without (a
// project's lock and a plugin directory's agree on the number), and read
// back with them.
func TestBLAKE3DigestsAndFormat(t *testing.T) {
	var f pluginlock.File
	f.Put(pluginlock.Plugin{Name: "store/redis", Version: "0.1.0", Source: "s", SHA256: map[string]string{pluginlock.Platform(): sumA}})
	if got := string(f.Marshal()); !strings.Contains(got, `"format": 2,`) || strings.Contains(got, "blake3") {
		t.Fatalf("a lock without BLAKE3 digests:\n%s", got)
	}
	sumB := strings.Repeat("b", 64)
	f.Put(pluginlock.Plugin{Name: "broker/redis", Version: "0.1.0", Source: "s",
		SHA256: map[string]string{pluginlock.Platform(): sumA}, BLAKE3: map[string]string{pluginlock.Platform(): sumB}})
	data := f.Marshal()
	if !strings.Contains(string(data), `"format": 2,`) {
		t.Fatalf("a lock with BLAKE3 digests:\n%s", data)
	}
	back, err := pluginlock.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	sha, b3, err := back.Pin("broker/redis")
	if err != nil || hex.EncodeToString(sha) != sumA || hex.EncodeToString(b3) != sumB {
		t.Fatalf("Pin = %x, %x, %v; want %s, %s", sha, b3, err, sumA, sumB)
	}
	// No BLAKE3 recorded: the sha256 alone.
	sha, b3, err = back.Pin("store/redis")
	if err != nil || hex.EncodeToString(sha) != sumA || b3 != nil {
		t.Fatalf("Pin without BLAKE3 = %x, %x, %v", sha, b3, err)
	}
}

func TestHashFileBoth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sha, b3, err := pluginlock.HashFileBoth(path)
	// The digests of no bytes: FIPS 180-4 and the BLAKE3 specification's
	// test vectors.
	if err != nil || sha != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ||
		b3 != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatalf("HashFileBoth(empty) = %s, %s, %v", sha, b3, err)
	}
	if err := os.WriteFile(path, []byte("plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	sha, _, err = pluginlock.HashFileBoth(path)
	if want, _ := pluginlock.HashFile(path); err != nil || sha != want {
		t.Fatalf("HashFileBoth sha256 = %s, %v; HashFile says %s", sha, err, want)
	}
}

func TestChecksumAndVerify(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, pluginlock.BinaryName("broker/rabbitmq"))
	if err := os.WriteFile(bin, []byte("plugin"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := pluginlock.HashFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var f pluginlock.File
	f.Put(pluginlock.Plugin{Name: "broker/rabbitmq", Version: "0.1.0", Source: "s", SHA256: map[string]string{pluginlock.Platform(): sum}})
	f.Put(pluginlock.Plugin{Name: "store/redis", Version: "0.1.0", Source: "s", SHA256: map[string]string{"plan9/mips": sumA}})
	if err := pluginlock.Write(filepath.Join(dir, pluginlock.FileName), &f); err != nil {
		t.Fatal(err)
	}

	lock, err := pluginlock.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := lock.Checksum("broker/rabbitmq")
	if err != nil || hex.EncodeToString(want) != sum {
		t.Fatalf("Checksum = %x, %v; want %s", want, err, sum)
	}
	if err := verifyPath("broker/rabbitmq", bin, want); err != nil {
		t.Fatalf("Verify of the installed binary: %v", err)
	}

	// One byte flipped.
	data, _ := os.ReadFile(bin)
	data[0] ^= 0xff
	os.WriteFile(bin, data, 0o755)
	err = verifyPath("broker/rabbitmq", bin, want)
	var mm *pluginlock.MismatchError
	if !errors.As(err, &mm) || mm.Name != "broker/rabbitmq" {
		t.Fatalf("Verify of a changed binary: %v", err)
	}
	for _, s := range []string{"broker/rabbitmq", bin, "micro-new install broker/rabbitmq"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}

	var np *pluginlock.NotPinnedError
	if _, err := lock.Checksum("store/nats"); !errors.As(err, &np) || !strings.Contains(err.Error(), "micro-new install store/nats") {
		t.Errorf("Checksum of a plugin not in the lock: %v", err)
	}
	if _, err := lock.Checksum("store/redis"); !errors.As(err, &np) || np.Platform != pluginlock.Platform() {
		t.Errorf("Checksum without a sum for this platform: %v", err)
	}

	empty, err := pluginlock.ReadDir(t.TempDir())
	if err != nil || len(empty.Plugins) != 0 {
		t.Errorf("ReadDir of a directory without a lock: %v, %v", empty, err)
	}
	if _, err := pluginlock.Read(filepath.Join(t.TempDir(), "micro.lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v", err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := pluginlock.Find(deep); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Find without a lock: %v", err)
	}
	lock := filepath.Join(root, "a", pluginlock.FileName)
	if err := pluginlock.Write(lock, &pluginlock.File{}); err != nil {
		t.Fatal(err)
	}
	if got, err := pluginlock.Find(deep); err != nil || got != lock {
		t.Fatalf("Find = %s, %v; want %s", got, err, lock)
	}
}

func TestDirFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MICRO_PLUGIN_DIR": "/p", "XDG_DATA_HOME": "/x", "HOME": "/h"}, "/p"},
		{map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/micro/plugins"},
		{map[string]string{"XDG_DATA_HOME": "relative", "HOME": "/h"}, "/h/.local/share/micro/plugins"},
		{map[string]string{"HOME": "/h"}, "/h/.local/share/micro/plugins"},
	}
	if runtime.GOOS != "linux" {
		t.Skip("the expectations are Linux paths")
	}
	for _, tt := range tests {
		if got, err := pluginlock.DirFromEnv(env(tt.env)); err != nil || got != tt.want {
			t.Errorf("DirFromEnv(%v) = %s, %v; want %s", tt.env, got, err, tt.want)
		}
	}
	if _, err := pluginlock.DirFromEnv(env(nil)); err == nil || !strings.Contains(err.Error(), "MICRO_PLUGIN_DIR") {
		t.Errorf("DirFromEnv without HOME: %v", err)
	}
	if got := pluginlock.BinaryName("broker/rabbitmq"); got != "micro-plugin-broker-rabbitmq" {
		t.Errorf("BinaryName = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format": 1, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux/amd64": "` + sumA + `"}}]}`))
	f.Add([]byte(`{"format": 2, "plugins": [{"name": "a/b", "version": "1", "source": "s", "sha256": {"linux/amd64": "` + sumA + `"}, "blake3": {"linux/amd64": "` + sumA + `"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lock, err := pluginlock.Parse(data)
		if err != nil {
			return
		}
		again, err := pluginlock.Parse(lock.Marshal())
		if err != nil {
			t.Fatalf("a parsed lock does not parse after Marshal: %v", err)
		}
		if string(again.Marshal()) != string(lock.Marshal()) {
			t.Fatal("Marshal is not stable")
		}
	})
}

// verifyPath opens the binary at path and verifies what it opened.
func verifyPath(name, path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pluginlock.Verify(name, f, want)
}
