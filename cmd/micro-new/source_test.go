package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 13 item 1: the recorded checkout is used only while it is micro's and
// at the revision micro-new was built at.
func TestBuiltFromIsChecked(t *testing.T) {
	micro := t.TempDir()
	os.WriteFile(filepath.Join(micro, "go.mod"), []byte("module github.com/seedmicro/micro\n\ngo 1.26\n"), 0o644)
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	at := func(rev string) func(string) (string, error) { return func(string) (string, error) { return rev, nil } }
	noGit := func(string) (string, error) { return "", errors.New("not a git checkout") }
	tests := []struct {
		name, dir, built string
		head             func(string) (string, error)
		want             string // "" for no error
	}{
		{"same revision", micro, "abc123", at("abc123"), ""},
		{"revision unknown", micro, "", at("abc123"), ""},
		{"no git", micro, "abc123", noGit, ""},
		{"moved on", micro, "abc123", at("def456"), "now at def456"},
		{"deleted", filepath.Join(micro, "gone"), "", noGit, "has no go.mod"},
		{"another module", other, "", noGit, "is module example.com/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBuiltFrom(tt.dir, tt.built, false, tt.head)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Issue 13 item 1: only a released version is fetched through the module
// proxy; a pseudo-version (a go install from a checkout) or a dirty build
// is not, since the proxy cannot have it.
func TestReleasedVersion(t *testing.T) {
	tests := map[string]string{
		"v1.2.0":                               "v1.2.0",
		"v0.3.1-rc.1":                          "v0.3.1-rc.1",
		"(devel)":                              "",
		"v0.0.0-20261207211800-5cc8e42abcde":   "",
		"v1.2.1-0.20261207211800-5cc8e42abcde": "",
		"v1.2.0+dirty":                         "",
	}
	for v, want := range tests {
		if got := released(v); got != want {
			t.Errorf("released(%q) = %q, want %q", v, got, want)
		}
	}
}

// Issue 13 item 1: with no source to build from (a -trimpath build that
// recorded no checkout, run outside one), the error says exactly what to run.
func TestNoSourceSaysWhatToRun(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "micro-new")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "install", "broker/memory")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	for _, want := range []string{"does not know where its source is", "make install", envSourceDir, "go install github.com/seedmicro/micro/cmd/micro-new@latest"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
