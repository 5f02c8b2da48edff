package typed_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seedmicro/micro/generator/typed"
)

// module is a Go module in a temporary directory that requires micro
// through a replace pointing at this checkout.
type module struct {
	t    *testing.T
	dir  string
	root string // this checkout
}

func newModule(t *testing.T) *module {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	m := &module{t: t, dir: t.TempDir(), root: root}
	m.write("go.mod", "module example.com/app\n\ngo 1.26\n\nrequire github.com/seedmicro/micro v0.0.0-00010101000000-000000000000\n\nreplace github.com/seedmicro/micro => "+root+"\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	m.write("go.sum", string(sum))
	return m
}

func (m *module) write(name, content string) {
	m.t.Helper()
	p := filepath.Join(m.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// goCmd runs the go command in the module and returns its combined output.
func (m *module) goCmd(args ...string) (string, error) {
	m.t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = m.dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (m *module) generate(patterns ...string) []string {
	m.t.Helper()
	written, err := typed.Generate(context.Background(), m.dir, patterns...)
	if err != nil {
		m.t.Fatalf("generate: %v", err)
	}
	return written
}

const handlerV1 = `package greeter

import "context"

const ServiceName = "greeter"

type Req struct{ Name string }
type Rsp struct{ Text string }

type Greeter struct{}

// Hello says hello.
func (Greeter) Hello(ctx context.Context, req *Req, rsp *Rsp) error {
	rsp.Text = "Hello, " + req.Name
	return nil
}
`

// handlerV2 is handlerV1 with one endpoint more.
const handlerV2 = handlerV1 + `
// Goodbye says goodbye.
func (Greeter) Goodbye(ctx context.Context, req *Req, rsp *Rsp) error {
	rsp.Text = "Goodbye, " + req.Name
	return nil
}
`

// checkMain starts the service on the embedded defaults, in process, and
// calls both endpoints through the generated client.
const checkMain = `package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"example.com/app/greeter"
	"example.com/app/greeter/greeterclient"
	"github.com/seedmicro/micro"
)

func main() {
	ctx := context.Background()
	svc, err := micro.New(greeter.ServiceName, micro.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer svc.Stop(ctx)
	if err := svc.Handle(greeter.Greeter{}); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if err := svc.Start(ctx); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	c := greeterclient.New(svc.Client())
	for _, call := range []func(context.Context, *greeter.Req, ...client.CallOption) (*greeter.Rsp, error){c.Hello, c.Goodbye} {
		rsp, err := call(ctx, &greeter.Req{Name: "Ada"})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(rsp.Text)
	}
}
`

// TestHandlerGainsEndpoint: a handler gains an endpoint, gen runs again,
// and a program calls the new endpoint through the regenerated client.
func TestHandlerGainsEndpoint(t *testing.T) {
	m := newModule(t)
	m.write("greeter/greeter.go", handlerV1)
	client := filepath.Join(m.dir, "greeter", "greeterclient", "greeterclient.micro.go")
	if w := m.generate("./..."); !slices.Equal(w, []string{client}) {
		t.Fatalf("wrote %v, want %v", w, []string{client})
	}
	if out, err := m.goCmd("mod", "tidy"); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	if out, err := m.goCmd("build", "./..."); err != nil {
		t.Fatalf("the generated client does not build: %v\n%s", err, out)
	}
	m.write("check/main.go", strings.Replace(checkMain, `"github.com/seedmicro/micro"`, "\"github.com/seedmicro/micro\"\n\t\"github.com/seedmicro/micro/core/client\"", 1))
	if out, err := m.goCmd("vet", "./check"); err == nil || !strings.Contains(out, "c.Goodbye undefined") {
		t.Fatalf("the program calls Goodbye before the handler has it: want a compile error naming c.Goodbye, got %v\n%s", err, out)
	}
	m.write("greeter/greeter.go", handlerV2)
	// ./check does not compile until the client has Goodbye: it is
	// reported, and the handler package's client is written all the same.
	w, err := typed.Generate(context.Background(), m.dir, "./...")
	var pe *typed.PackageError
	if !errors.As(err, &pe) || pe.Package != "example.com/app/check" {
		t.Fatalf("error %v, want a *typed.PackageError for example.com/app/check", err)
	}
	if !slices.Equal(w, []string{client}) {
		t.Fatalf("regenerating wrote %v, want %v", w, []string{client})
	}
	if w := m.generate("./greeter"); len(w) != 0 {
		t.Fatalf("a third run rewrote %v; unchanged files must be left alone", w)
	}
	cmd := exec.Command("go", "run", "./check")
	cmd.Dir = m.dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "MICRO_REGISTRY_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./check: %v\n%s", err, out)
	}
	if got, want := string(out), "Hello, Ada\nGoodbye, Ada\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

// TestSupportVersionMoves compiles generated code against a core whose
// support version has moved (version.go replaced through a build overlay,
// leaving the checkout as it is): the build fails at the guard, saying
// what to do.
func TestSupportVersionMoves(t *testing.T) {
	m := newModule(t)
	m.write("greeter/greeter.go", handlerV1)
	m.generate("./...")
	if out, err := m.goCmd("mod", "tidy"); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	if out, err := m.goCmd("build", "./..."); err != nil {
		t.Fatalf("the generated client does not build against this micro: %v\n%s", err, out)
	}
	tests := []struct {
		name    string
		version string // the moved version.go
		want    []string
	}{
		{
			"core newer than the generated code",
			"package micro\n\nconst SupportPackageIsVersion2 = true\n\nconst SupportPackageIsVersion1 = \"generated code too old for this micro: run micro-new gen\"\n",
			[]string{"greeterclient.micro.go:", "cannot use micro.SupportPackageIsVersion1", "generated code too old for this micro: run micro-new gen"},
		},
		{
			"core older than the generated code",
			"package micro\n\nconst SupportPackageIsVersion0 = true\n",
			[]string{"greeterclient.micro.go:", "undefined: micro.SupportPackageIsVersion1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moved := filepath.Join(t.TempDir(), "version.go")
			if err := os.WriteFile(moved, []byte(tt.version), 0o644); err != nil {
				t.Fatal(err)
			}
			overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(m.root, "version.go"): moved}})
			ov := filepath.Join(t.TempDir(), "overlay.json")
			if err := os.WriteFile(ov, overlay, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := m.goCmd("build", "-overlay="+ov, "./...")
			if err == nil {
				t.Fatalf("stale generated code compiled against a moved core:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("build output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
