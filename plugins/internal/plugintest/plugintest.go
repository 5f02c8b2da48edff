// Package plugintest holds what the plugins' tests share: Suite, which runs
// a plugin's conformance suite in process, through the plugin bridge and
// through its built binary (Build); the test servers (NATSURL, Redis,
// NATSBucket, RedisPrefix); a TCP Proxy that cuts connections; and Logs,
// which captures a logger's records as a plugin process writes them, with
// Secret and NoSecret for the redaction tests.
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
