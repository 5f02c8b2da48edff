// Package plugintest holds what the plugins' tests share: building a plugin
// binary to run its conformance suite out of process.
package plugintest

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds the command at pkg (an import path) into a temporary
// directory and returns the binary's path and SHA-256, which plugin.Open
// needs to start it.
func Build(t testing.TB, pkg string) (string, []byte) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the plugin binary: %v", err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(pkg))
	build := exec.Command(gobin, "build", "-o", path, pkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	return path, sum[:]
}
