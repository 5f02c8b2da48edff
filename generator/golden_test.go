package generator_test

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/seedmicro/micro/generator"
	"github.com/seedmicro/micro/generator/typed"
	"github.com/seedmicro/micro/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenReplace is the core replace the goldens are rendered with: the
// repository's root seen from testdata/golden/CASE.
const goldenReplace = "../../../.."

func plugin(kind, name string, inproc bool) generator.Component {
	c := generator.Component{Kind: kind, Name: name}
	if inproc {
		c.Package = generator.CoreModule + "/plugins/" + kind + "/" + name
	}
	switch name {
	case "rabbitmq":
		c.Address = "amqp://guest:guest@127.0.0.1:5672/"
	case "nats":
		c.Address = "nats://127.0.0.1:4222"
	case "redis":
		c.Address = "redis://127.0.0.1:6379/0"
	}
	return c
}

// goldenCases is the matrix: no plugins; each broker in process and out of
// process; registry, broker and store together.
func goldenCases() map[string]generator.Answers {
	base := generator.Answers{Name: "greeter", Module: "example.com/greeter", ImportPath: "example.com/greeter",
		CoreVersion: generator.DevelVersion, CoreReplace: goldenReplace, GoVersion: "1.26", Plugins: generator.ModeInProcess}
	cases := map[string]generator.Answers{"none": base}
	for _, b := range []string{"rabbitmq", "nats", "redis"} {
		in := base
		in.Components = []generator.Component{plugin("broker", b, true)}
		cases["broker-"+b+"-inproc"] = in
		out := base
		out.Plugins = generator.ModeProcess
		out.Components = []generator.Component{plugin("broker", b, false)}
		cases["broker-"+b+"-process"] = out
	}
	all := base
	all.Name, all.Module, all.ImportPath = "order-history", "example.com/shop/order-history", "example.com/shop/order-history"
	all.Components = []generator.Component{plugin("registry", "redis", true), plugin("broker", "nats", true), plugin("store", "redis", true)}
	cases["all-inproc"] = all
	return cases
}

func serviceSet(t testing.TB) *generator.Set {
	t.Helper()
	fsys, err := templates.Set("service")
	if err != nil {
		t.Fatal(err)
	}
	set, err := generator.LoadSet(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func render(t *testing.T, set *generator.Set, a generator.Answers) []generator.File {
	t.Helper()
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	files, err := generator.RenderService(set, generator.NewServiceData(a))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestGolden compares the rendered matrix with testdata/golden; -update
// rewrites it.
func TestGolden(t *testing.T) {
	set := serviceSet(t)
	for name, a := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden", name)
			files := render(t, set, a)
			if *update {
				os.RemoveAll(dir)
				for _, f := range files {
					p := filepath.Join(dir, filepath.FromSlash(f.Path))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			var want []string
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					want = append(want, filepath.ToSlash(rel))
				}
				return nil
			})
			var got []string
			for _, f := range files {
				got = append(got, f.Path)
				wantData, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
				if err != nil {
					t.Errorf("%s: rendered, but no golden file (run go test ./generator -update): %v", f.Path, err)
					continue
				}
				if !bytes.Equal(f.Data, wantData) {
					t.Errorf("%s differs from its golden file (run go test ./generator -update if intended):\n%s", f.Path, generator.UnifiedDiff(f.Path, wantData, f.Data))
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("files rendered:\n%s\ngolden files:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestGoldenProjectsBuild builds, vets and tests every golden project, in
// sequence, in a copy whose go.mod replaces the core with this checkout.
// It needs the go command and the modules of the plugins (the module cache,
// or the module proxy).
func TestGoldenProjectsBuild(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..")) // the repository
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0)
	for name := range goldenCases() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			src := filepath.Join("testdata", "golden", name)
			if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			gomod := filepath.Join(dst, "go.mod")
			data, err := os.ReadFile(gomod)
			if err != nil {
				t.Fatal(err)
			}
			mf, err := modfile.Parse(gomod, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := mf.AddReplace(generator.CoreModule, "", root, ""); err != nil {
				t.Fatal(err)
			}
			if data, err = mf.Format(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(gomod, data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"mod", "tidy"}, {"build", "./..."}, {"vet", "./..."}, {"test", "-count=1", "./..."}} {
				cmd := exec.Command("go", args...)
				cmd.Dir = dst
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s in the %s project: %v\n%s", strings.Join(args, " "), name, err, out)
				}
			}
			checkHandlerClient(t, dst, name)
			// gofmt-clean as written.
			cmd := exec.Command("gofmt", "-l", ".")
			cmd.Dir = dst
			if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
				t.Fatalf("gofmt -l in the %s project: %v %s", name, err, out)
			}
		})
	}
}

// checkHandlerClient runs micro-new gen's planner on the handler of the
// project in dir (built, so its module resolves) and checks that it gives
// the very client the scaffold rendered: the scaffold renders it from the
// template's facts rather than by loading the project, so this is what
// keeps the two from drifting apart.
func checkHandlerClient(t *testing.T, dir, name string) {
	t.Helper()
	res, err := typed.Plan(context.Background(), dir, "./handler")
	if err != nil {
		t.Fatalf("micro-new gen on the handler of the %s project: %v", name, err)
	}
	if len(res.Diagnostics) > 0 {
		t.Errorf("micro-new gen on the handler of the %s project reports %v", name, res.Diagnostics)
	}
	if len(res.Files) != 1 {
		t.Fatalf("micro-new gen on the handler of the %s project planned %d files, want 1 (handler/handlerclient)", name, len(res.Files))
	}
	got := res.Files[0]
	rel, err := filepath.Rel(dir, got.Path)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("micro-new gen would write %s, which the scaffold did not render: %v", rel, err)
	}
	if !bytes.Equal(rendered, got.Content) {
		t.Errorf("the scaffold's %s differs from what micro-new gen writes:\n%s", rel, generator.UnifiedDiff(filepath.ToSlash(rel), rendered, got.Content))
	}
}
