package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/generator"
)

// scaffoldCLI is a micro-new environment whose generated go.mod replaces the
// core with this checkout.
func scaffoldCLI(t *testing.T) *tcli {
	t.Helper()
	c := newCLI(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c.vars[generator.EnvCore] = root
	return c
}

// tree lists the files and directories under dir, for "nothing written"
// checks.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestServiceRefusesBadNames(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a Go keyword", []string{"service", "type", "--no-input"}, "Go keyword"},
		{"a space", []string{"service", "foo bar", "--no-input"}, "letters, digits and '-'"},
		{"a path", []string{"service", "../x", "--no-input"}, "letters, digits and '-'"},
		{"template syntax", []string{"service", "{{", "--no-input"}, "letters, digits and '-'"},
		{"empty", []string{"service", "", "--no-input"}, "NAME"},
		{"300 characters", []string{"service", strings.Repeat("a", 300), "--no-input"}, "too long"},
		{"a bad module", []string{"service", "greeter", "--module", "Not A Path", "--no-input"}, "--module"},
		{"an unknown plugin", []string{"service", "greeter", "--broker", "nope", "--no-input"}, "--broker"},
		{"a bad plugin mode", []string{"service", "greeter", "--plugins", "sideways", "--no-input"}, "--plugins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scaffoldCLI(t)
			code, _, errs := c.run(tt.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (usage error); stderr: %s", code, errs)
			}
			contains(t, "stderr", errs, tt.want)
			if got := tree(t, c.wd); len(got) != 0 {
				t.Fatalf("files written after a refusal: %v", got)
			}
		})
	}
}

func TestServiceNeverOverwritesWithoutForce(t *testing.T) {
	c := scaffoldCLI(t)
	dir := filepath.Join(c.wd, "greeter")
	os.MkdirAll(dir, 0o755)
	mine := []byte("package main // mine\n")
	os.WriteFile(filepath.Join(dir, "main.go"), mine, 0o644)
	errs := c.fail("service", "greeter", "--no-input")
	contains(t, "stderr", errs, "main.go", "nothing written", "--force")
	if got, _ := os.ReadFile(filepath.Join(dir, "main.go")); string(got) != string(mine) {
		t.Fatalf("main.go changed: %s", got)
	}
	if got := tree(t, c.wd); strings.Join(got, ",") != "greeter,greeter/main.go" {
		t.Fatalf("files written after a conflict: %v", got)
	}
	// --dry-run shows the difference and writes nothing.
	out := c.ok("service", "greeter", "--no-input", "--dry-run")
	contains(t, "dry run", out, "conflict  main.go", "-package main // mine", "create    handler/handler.go", "create    handler/handlerclient/handlerclient.micro.go", "dry run: nothing written")
	if got := tree(t, c.wd); len(got) != 2 {
		t.Fatalf("--dry-run wrote files: %v", got)
	}
	// --force overwrites.
	c.ok("service", "greeter", "--no-input", "--force")
	if got, _ := os.ReadFile(filepath.Join(dir, "main.go")); string(got) == string(mine) {
		t.Fatal("--force left main.go as it was")
	}
}

func TestServiceFailingTemplateWritesNothing(t *testing.T) {
	tests := map[string]string{
		"fails":        `{{fail "broken on purpose"}}`,
		"is not Go":    "package main\nfunc {\n",
		"missing data": "package main\n// {{.NoSuchField}}\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			c := scaffoldCLI(t)
			set := t.TempDir()
			c.ok("templates", "export", set)
			os.WriteFile(filepath.Join(set, "service", "broken.go.tmpl"), []byte(text), 0o644)
			errs := c.fail("service", "greeter", "--no-input", "--template", set)
			contains(t, "stderr", errs, "broken.go.tmpl")
			if got := tree(t, c.wd); len(got) != 0 {
				t.Fatalf("files written by a failing template: %v", got)
			}
		})
	}
}

func TestServiceNoInputNeedsName(t *testing.T) {
	c := scaffoldCLI(t)
	code, _, errs := c.run("service", "--no-input")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	contains(t, "stderr", errs, "NAME is missing")
}

func TestServiceInsideAModule(t *testing.T) {
	c := scaffoldCLI(t)
	os.WriteFile(filepath.Join(c.wd, "go.mod"), []byte("module example.com/mono\n\ngo 1.26\n"), 0o644)
	c.ok("service", "greeter", "--dir", "services/greeter", "--no-input")
	dir := filepath.Join(c.wd, "services", "greeter")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		t.Fatal("a go.mod was written inside the enclosing module")
	}
	main, _ := os.ReadFile(filepath.Join(dir, "main.go"))
	contains(t, "main.go", string(main), `"example.com/mono/services/greeter/handler"`)
	gomod, _ := os.ReadFile(filepath.Join(c.wd, "go.mod"))
	contains(t, "the enclosing go.mod", string(gomod), "require github.com/seedmicro/micro", "replace github.com/seedmicro/micro =>")
}

func TestUseSwitchesBrokerAndKeepsUserFiles(t *testing.T) {
	c := scaffoldCLI(t)
	c.ok("service", "greeter", "--broker", "rabbitmq", "--no-input")
	dir := filepath.Join(c.wd, "greeter")
	c.wd = dir
	// The user edits a handler (theirs) and the wiring (the generator's).
	handlerPath := filepath.Join(dir, "handler", "handler.go")
	handler, _ := os.ReadFile(handlerPath)
	handler = append(handler, []byte("\n// An edit of the user's.\n")...)
	os.WriteFile(handlerPath, handler, 0o644)
	// The typed client of the handler is the generator's, and use keeps it.
	clientPath := filepath.Join(dir, "handler", "handlerclient", "handlerclient.micro.go")
	client, err := os.ReadFile(clientPath)
	if err != nil {
		t.Fatalf("service wrote no typed client: %v", err)
	}
	contains(t, "handlerclient", string(client), "// Code generated by micro-new gen. DO NOT EDIT.", "func (x *Client) Hello(")
	gen := filepath.Join(dir, "micro_gen.go")
	wiring, _ := os.ReadFile(gen)
	wiring = []byte(strings.Replace(string(wiring), "const configFile = \"micro.json\"", "const configFile = \"micro.json\"\n\n// kept: an edit far from the plugins.", 1))
	os.WriteFile(gen, wiring, 0o644)

	out := c.ok("use", "broker", "nats")
	contains(t, "use output", out, "update    micro_gen.go  (your edits merged)", "update    micro.json")
	got, _ := os.ReadFile(gen)
	contains(t, "micro_gen.go", string(got), `"github.com/seedmicro/micro/plugins/broker/nats"`, "// kept: an edit far from the plugins.")
	if strings.Contains(string(got), "rabbitmq") {
		t.Errorf("micro_gen.go still names rabbitmq:\n%s", got)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "micro.json"))
	contains(t, "micro.json", string(cfg), `"name": "nats"`)
	if h, _ := os.ReadFile(handlerPath); string(h) != string(handler) {
		t.Fatal("use changed the user's handler")
	}
	m, err := generator.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := m.Answers.Component("broker"); b.Name != "nats" {
		t.Fatalf("manifest broker %q, want nats", b.Name)
	}
	if c, _ := os.ReadFile(clientPath); string(c) != string(client) {
		t.Fatalf("use changed the typed client:\n%s", c)
	}
	if f, ok := m.Files["handler/handlerclient/handlerclient.micro.go"]; !ok || f.Owner != generator.OwnerGenerator {
		t.Fatalf("manifest entry of the typed client: %+v (listed %v), want owner %s", f, ok, generator.OwnerGenerator)
	}

	// An edit on the lines the next render changes conflicts: reported,
	// left alone, replaced with --force.
	got = []byte(strings.Replace(string(got), "return brokernats.New(ctx, cfg)", "return brokernats.New(ctx, cfg) // tuned", 1))
	os.WriteFile(gen, got, 0o644)
	errs := c.fail("use", "broker", "redis")
	contains(t, "stderr", errs, "conflict", "micro_gen.go", "--force")
	if now, _ := os.ReadFile(gen); string(now) != string(got) {
		t.Fatal("a conflicting use changed micro_gen.go")
	}
	c.ok("use", "broker", "redis", "--force")
	now, _ := os.ReadFile(gen)
	contains(t, "micro_gen.go", string(now), `"github.com/seedmicro/micro/plugins/broker/redis"`)

	// Out of process: nothing imported, the install command printed.
	out = c.ok("use", "--plugins", "process")
	contains(t, "use output", out, "micro-new install broker/redis --pin")
	now, _ = os.ReadFile(gen)
	if strings.Contains(string(now), "plugins/broker") {
		t.Fatalf("out of process, micro_gen.go still imports a plugin:\n%s", now)
	}
}

// TestServiceVerifyKeepsAFailingScaffoldOut: with --verify, a project whose
// tests fail is never moved into place.
func TestServiceVerifyKeepsAFailingScaffoldOut(t *testing.T) {
	c := scaffoldCLI(t)
	set := t.TempDir()
	c.ok("templates", "export", set)
	failing := "package main\n\nimport \"testing\"\n\nfunc TestFailsOnPurpose(t *testing.T) { t.Fatal(\"fails on purpose\") }\n"
	os.WriteFile(filepath.Join(set, "service", "zz_test.go.tmpl"), []byte(failing), 0o644)
	errs := c.fail("service", "greeter", "--no-input", "--verify", "--template", set)
	contains(t, "stderr", errs, "verify: go test ./... failed, nothing written", "fails on purpose")
	if got := tree(t, c.wd); len(got) != 0 {
		t.Fatalf("files written by a scaffold that failed --verify: %v", got)
	}
	// The built-in set passes.
	c.ok("service", "greeter", "--no-input", "--verify")
	if _, err := os.Stat(filepath.Join(c.wd, "greeter", "main.go")); err != nil {
		t.Fatal(err)
	}
}
