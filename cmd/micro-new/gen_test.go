package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runGen runs micro-new in-process in directory wd.
func runGen(t *testing.T, wd string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	abs, err := filepath.Abs(wd)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, wd: abs, getenv: func(string) string { return "" }}
	code = run(context.Background(), append([]string{"micro-new"}, args...), e)
	return code, out.String(), errb.String()
}

func TestGen(t *testing.T) {
	typedDir := filepath.Join("..", "..", "generator", "typed")
	tests := []struct {
		name   string
		wd     string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"examples up to date", filepath.Join("..", "..", "examples", "greeter"), []string{"gen", "--check", "./..."}, 0, nil, nil},
		{"missing client", typedDir, []string{"gen", "--check", "./testdata/bad"}, 1,
			[]string{"out of date: testdata/bad/badclient/badclient.micro.go"},
			[]string{"testdata/bad/bad.go:14:10: H.ValueRequest is not an endpoint: its request parameter is bad.Req, not a pointer", "run micro-new gen"}},
		{"strict", typedDir, []string{"gen", "--check", "--strict", "./internal/shop"}, 0, nil, nil},
		{"broken package", typedDir, []string{"gen", "./testdata/broken"}, 1, nil,
			[]string{"testdata/broken: nothing generated for it", "undefined: Missing"}},
		{"unknown flag", typedDir, []string{"gen", "--nope"}, 2, nil, []string{"unknown flag --nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runGen(t, tt.wd, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
	for _, d := range []string{"testdata/bad/badclient", "testdata/broken/brokenclient"} {
		if _, err := os.Stat(filepath.Join(typedDir, d)); err == nil {
			t.Errorf("%s was written", d)
		}
	}
}

func TestGenHelp(t *testing.T) {
	code, out, _ := runGen(t, ".", "gen", "--help")
	if code != 0 || !strings.Contains(out, "EXAMPLES:") || !strings.Contains(out, "//micro:subscribe") {
		t.Fatalf("exit %d, help:\n%s", code, out)
	}
}
