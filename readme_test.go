package micro_test

import (
	"bytes"
	"context"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/internal/testkit"
)

// readmeBlock is a Go code block of the README and the file it must be.
type readmeBlock struct {
	line int    // of the opening fence
	file string // from the <!-- file: PATH --> line before the block
	// fragment: a `<!-- fragment -->` line stands before the block: it
	// shows part of a program (declarations or statements), not a whole
	// one, and must still parse as Go and be gofmt-clean.
	fragment bool
	code     string
}

// readmeGoBlocks returns the README's ```go blocks.
func readmeGoBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		b := readmeBlock{line: i + 1}
		for j := i - 1; j >= 0 && j >= i-2; j-- {
			if f, ok := strings.CutPrefix(strings.TrimSpace(lines[j]), "<!-- file: "); ok {
				b.file = strings.TrimSpace(strings.TrimSuffix(f, "-->"))
				break
			}
			if strings.TrimSpace(lines[j]) == "<!-- fragment -->" {
				b.fragment = true
				break
			}
		}
		var code strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code.WriteString(lines[i] + "\n")
		}
		b.code = code.String()
		blocks = append(blocks, b)
	}
	return blocks
}

// TestREADMECodeIsTheExamples is issue 13 item 3, its first half: every Go
// block of the README is a program kept under examples/ (named by a
// `<!-- file: PATH -->` line just before it), byte for byte, so that it
// compiles, is vetted and gofmt-clean with the rest of the tree. Before,
// the README's service used undeclared types, a literal `{ ... }`, and
// lacked the errors import.
func TestREADMECodeIsTheExamples(t *testing.T) {
	blocks := readmeGoBlocks(t)
	if len(blocks) < 2 {
		t.Fatalf("the README has %d Go blocks, want at least the service and its caller", len(blocks))
	}
	for _, b := range blocks {
		if b.fragment {
			if err := parseFragment(b.code); err != nil {
				t.Errorf("README.md:%d: a Go fragment that does not parse as declarations or statements: %v", b.line, err)
			}
			continue
		}
		if b.file == "" {
			t.Errorf("README.md:%d: a Go block with no `<!-- file: examples/... -->` line before it: put the program in a file under examples/ and name it there, so a test builds it", b.line)
			continue
		}
		if !strings.HasPrefix(b.file, "examples/") || !strings.HasSuffix(b.file, ".go") {
			t.Errorf("README.md:%d: %s: a README program lives in a .go file under examples/", b.line, b.file)
			continue
		}
		want, err := os.ReadFile(b.file)
		if err != nil {
			t.Errorf("README.md:%d: %v", b.line, err)
			continue
		}
		if string(want) != b.code {
			t.Errorf("README.md:%d: the block differs from %s: copy the file into the README (or the block into the file)", b.line, b.file)
		}
	}
}

// parseFragment parses code as Go declarations, else as statements, and
// checks that it is gofmt-clean as declarations.
func parseFragment(code string) error {
	fset := token.NewFileSet()
	if _, err := parser.ParseFile(fset, "fragment.go", "package p\n\n"+code, 0); err == nil {
		src := []byte("package p\n\n" + code)
		formatted, ferr := format.Source(src)
		if ferr != nil {
			return ferr
		}
		if !bytes.Equal(formatted, src) {
			return fmt.Errorf("not gofmt-clean")
		}
		return nil
	}
	_, err := parser.ParseFile(fset, "fragment.go", "package p\nfunc _() {\n"+code+"}\n", 0)
	return err
}

// TestREADMEProgramsRun is issue 13 item 3, its second half: the README's
// service and caller, built, run on the embedded defaults: the caller gets
// its greeting, the service its event, and SIGTERM stops the service with
// exit status 0 (before, `log.Fatal(svc.Run(ctx))` exited 1 after every
// clean stop).
func TestREADMEProgramsRun(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to build the README's programs: %v", err)
	}
	bin := t.TempDir()
	for _, p := range []string{"service", "caller"} {
		testkit.Build(t, filepath.Join(bin, p), "./examples/readme/"+p)
	}
	regDir := t.TempDir()
	env := append(os.Environ(), local.EnvDir+"="+regDir, "MICRO_REGISTRY=", "MICRO_BROKER=", "MICRO_STORE=", "MICRO_CONFIG=")

	svc := exec.Command(filepath.Join(bin, "service"))
	svc.Env = env
	svc.Stdout = io.Discard
	proc := testkit.Start(t, svc) // its log, on standard error, in proc.Out

	// Wait for the service to register.
	reg, err := local.New(local.WithDir(regDir))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := reg.Lookup(context.Background(), "greeter"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the README's service never registered")
		}
		time.Sleep(50 * time.Millisecond)
	}

	caller := exec.Command(filepath.Join(bin, "caller"))
	caller.Env = env
	code, out, errOut := testkit.Run(t, caller)
	if code != 0 {
		t.Fatalf("caller: exit status %d\n%s", code, errOut)
	}
	if got := strings.TrimSpace(out); got != "Hello, Ada" {
		t.Errorf("caller printed %q, want Hello, Ada", got)
	}
	proc.WaitFor(t, "user 42 created", 20*time.Second) // the user.created event

	if err := proc.Stop(t, syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatalf("the service after SIGTERM: %v, want exit status 0", err)
	}
}
