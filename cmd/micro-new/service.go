package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/generator"
	"github.com/seedmicro/micro/internal/catalog"
)

// Environment variables of the scaffolding commands.
const envTemplates = "MICRO_NEW_TEMPLATES"

// scaffoldFlags are the flags service and use share.
func componentFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "registry", Usage: "the registry: `NAME` of a registry plugin (micro-new list), or the embedded local or memory"},
		&cli.StringFlag{Name: "broker", Usage: "the broker: `NAME` of a broker plugin, or the embedded direct or memory"},
		&cli.StringFlag{Name: "store", Usage: "the store: `NAME` of a store plugin, or the embedded memory"},
		&cli.StringFlag{Name: "plugins", Usage: "how plugins run: inproc (compiled into the service) or process (their own binaries, installed with micro-new install)", Value: generator.ModeInProcess, DefaultText: "inproc"},
	}
}

func serviceCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "service",
		Usage:     "scaffold a new service that builds, vets and passes its tests at once",
		ArgsUsage: "NAME",
		Description: `Writes a service project into --dir (default ./NAME): go.mod, main.go, the
generator-owned wiring micro_gen.go (the only file that names plugins), a
handler with a sample endpoint and its test, a subscriber and its test when
a broker is chosen, micro.json, a README, a Makefile, a Dockerfile and
.gitignore. Its tests run on the embedded defaults, with no server.

Every file is planned first (create, identical, update, conflict); a file
that exists and differs is never overwritten without --force. The project is
written into a temporary directory and moved into place only when complete.
Inside an existing module (a go.mod above --dir) the service is added as a
package tree of that module, and the module's go.mod gains the core.

On a terminal, micro-new asks for what the flags leave out. With --no-input,
or when standard input is not a terminal, it never asks, and NAME is required.`,
		CustomHelpTemplate: withExamples("micro-new service greeter", "micro-new service greeter --broker rabbitmq --registry redis --no-input", "micro-new service orders --module github.com/acme/orders --broker nats --plugins process --install", "micro-new service greeter --broker nats --dry-run     # the plan and its diffs; nothing written"),
		Flags: append(append(componentFlags(), writeFlags("project", "never prompt: a missing required answer is an error")...),
			&cli.StringFlag{Name: "module", Usage: "the module `PATH` of the new project (default example.com/NAME; inside a module, that module's)"},
			&cli.StringFlag{Name: "dir", Usage: "the project `DIR`ectory (default ./NAME)"},
			&cli.BoolFlag{Name: "install", Usage: "with --plugins process: install the plugins and pin them in the project's micro.lock"},
		),
		Action: action(e, func(s *session) error { return runService(s) }),
	}
}

func runService(s *session) error {
	c := s.c
	if c.NArg() > 1 {
		return usage(c, "service takes one NAME, got %d arguments: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	a := generator.Answers{Name: c.Args().First(), Plugins: c.String("plugins")}
	p := newPrompter(s, c.Bool("no-input"))
	if a.Name == "" {
		if !p.enabled() {
			return usage(c, "the service NAME is missing: micro-new service NAME")
		}
		var err error
		if a.Name, err = p.input("Service name", "letters, digits and '-', such as greeter", func(v string) error { return generator.CheckName("NAME", v) }); err != nil {
			return err
		}
	}
	if err := generator.CheckName("NAME", a.Name); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	dir := projectDir(s, a.Name)
	gomod, modPath, err := generator.FindModule(dir)
	if err != nil {
		return err
	}
	if gomod != "" {
		rel, err := filepath.Rel(filepath.Dir(gomod), dir)
		if err != nil {
			return err
		}
		a.Module, a.InModule = modPath, true
		a.ImportPath = modPath + "/" + filepath.ToSlash(rel)
		if m := c.String("module"); m != "" && m != modPath {
			return usage(c, "--module %s: %s is inside module %s (%s); drop --module, or choose a --dir outside it", m, dir, modPath, gomod)
		}
	} else {
		a.Module = c.String("module")
		if a.Module == "" {
			def := "example.com/" + a.Name
			if p.enabled() {
				if a.Module, err = p.inputDefault("Module path", def, generator.CheckModule); err != nil {
					return err
				}
			} else {
				a.Module = def
			}
		}
		a.ImportPath = a.Module
	}
	if err := generator.CheckModule(a.Module); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if err := chooseComponents(s, p, &a, true); err != nil {
		return err
	}
	if a.CoreVersion, a.CoreReplace, err = coreSource(s); err != nil {
		return err
	}
	set, setName, err := loadTemplateSet(s, "service")
	if err != nil {
		return err
	}
	plan, err := generator.PlanService(generator.ServiceRequest{
		Set: set, Answers: a, Dir: dir, Force: c.Bool("force"),
		Generator: version(), Template: setName, EnclosingGoMod: gomod,
	})
	if err != nil {
		var ne *generator.NameError
		if asNameError(err, &ne) {
			return &exitError{code: 2, msg: err.Error()}
		}
		return err
	}
	if c.Bool("verify") && a.InModule && !c.Bool("dry-run") {
		return fmt.Errorf("--verify needs a project with a go.mod of its own; inside module %s, run go build and go test after writing", a.Module)
	}
	rel, err := writePlan(s, plan, dir, planOptions{what: "project", dryRun: c.Bool("dry-run"), verify: c.Bool("verify"), tidy: !a.InModule})
	if err != nil || rel == "" {
		return err
	}
	if err := installOrTell(s, dir, rel, generator.NewServiceData(a).Install); err != nil {
		return err
	}
	fmt.Fprintf(s.e.stdout, "\nNext:\n\n  cd %s\n  make test     # no server needed\n  make run\n", rel)
	return nil
}

// writeFlags are the flags of the commands that write a project (service,
// plugin); what names it in the help of --verify.
func writeFlags(what, noInput string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan with unified diffs and write nothing"},
		&cli.BoolFlag{Name: "force", Usage: "overwrite files that exist and differ"},
		&cli.BoolFlag{Name: "no-input", Usage: noInput},
		&cli.BoolFlag{Name: "verify", Usage: "go build and go test the " + what + " in a temporary directory before moving it into place"},
		&cli.StringFlag{Name: "template", Usage: "a custom template set `DIR` (see micro-new templates export); default $" + envTemplates},
	}
}

// projectDir is the directory --dir names (def when not given), made
// absolute against the working directory.
func projectDir(s *session, def string) string {
	dir := s.c.String("dir")
	if dir == "" {
		dir = def
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.e.wd, dir)
	}
	return dir
}

// coreSource is the version of the core a new project requires, and the
// checkout it is replaced with in a development build.
func coreSource(s *session) (version, replace string, err error) {
	version, replace = generator.CoreSource(s.e.getenv)
	if version == generator.DevelVersion && replace == "" {
		return "", "", fmt.Errorf("this micro-new is a development build and its checkout is not known: set $%s to the micro checkout to build against", generator.EnvCore)
	}
	return version, replace, nil
}

// planOptions say how writePlan writes: what it writes ("project",
// "module"), in its messages; whether go mod tidy runs in it first, and
// --verify builds, vets and tests it.
type planOptions struct {
	what                 string
	dryRun, verify, tidy bool
}

// writePlan shows a plan (--dry-run) or writes it: into a staging
// directory, where go mod tidy and --verify run, then into place. It
// returns dir relative to the working directory, for the next steps, or ""
// when it wrote nothing.
func writePlan(s *session, plan *generator.Plan, dir string, o planOptions) (string, error) {
	out := s.e.stdout
	if o.dryRun {
		plan.Describe(out, true)
		fmt.Fprintln(out, "dry run: nothing written")
		return "", nil
	}
	if c := plan.Conflicts(); len(c) > 0 {
		plan.Describe(s.e.stderr, false)
		return "", &exitError{code: 1, msg: fmt.Sprintf("%d files exist and differ: %s; nothing written (--dry-run shows the differences, --force overwrites them)", len(c), strings.Join(c, ", "))}
	}
	stage, err := plan.Stage()
	if err != nil {
		return "", err
	}
	defer stage.Cleanup()
	if o.tidy {
		fmt.Fprintf(s.e.stderr, "resolving the %s's dependencies (go mod tidy)...\n", o.what)
		if err := goRun(s, stage.Project, "mod", "tidy"); err != nil {
			if o.verify {
				return "", fmt.Errorf("go mod tidy: %v; nothing written", err)
			}
			fmt.Fprintf(s.e.stderr, "warning: go mod tidy failed (%v): run it in %s once the modules can be fetched\n", err, dir)
		} else if err := stage.Refresh("go.mod", "go.sum"); err != nil {
			return "", err
		}
	}
	if o.verify {
		for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"test", "./..."}} {
			fmt.Fprintf(s.e.stderr, "verifying: go %s\n", strings.Join(args, " "))
			if err := goRun(s, stage.Project, args...); err != nil {
				return "", fmt.Errorf("verify: go %s failed, nothing written: %v", strings.Join(args, " "), err)
			}
		}
	}
	if err := stage.Commit(); err != nil {
		return "", err
	}
	plan.Describe(out, false)
	rel, err := filepath.Rel(s.e.wd, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = dir
	}
	return rel, nil
}

// installOrTell installs the out-of-process plugins of the project in dir
// with --install, or prints the commands that do; rel is how to cd into the
// project, "" from inside it.
func installOrTell(s *session, dir, rel string, cmds []string) error {
	if len(cmds) == 0 {
		return nil
	}
	if s.c.Bool("install") {
		return installPlugins(s, dir, cmds)
	}
	out := s.e.stdout
	if rel == "" {
		fmt.Fprintln(out, "\nThe plugins run out of process; install them and pin them in micro.lock:")
	} else {
		fmt.Fprintf(out, "\nThe plugins run out of process; install them (and pin them in %s/micro.lock):\n\n  cd %s\n", rel, rel)
	}
	for _, cmd := range cmds {
		fmt.Fprintf(out, "  %s --pin\n", cmd)
	}
	return nil
}

// installPlugins installs out-of-process plugins and pins them in the
// project's lock, with micro-new install --pin run inside the project.
func installPlugins(s *session, dir string, cmds []string) error {
	for _, cmd := range cmds {
		name := strings.TrimPrefix(cmd, "micro-new install ")
		e2 := *s.e
		e2.wd = dir
		args := []string{"micro-new"}
		if pd := s.c.String("plugin-dir"); pd != "" {
			args = append(args, "--plugin-dir", pd)
		}
		for _, cat := range s.c.StringSlice("catalog") {
			args = append(args, "--catalog", cat)
		}
		args = append(args, "install", "--pin", name)
		if code := run(s.c.Context, args, &e2); code != 0 {
			return &exitError{code: code, msg: fmt.Sprintf("installing %s failed; the project is written: run `%s --pin` in %s", name, cmd, dir)}
		}
	}
	return nil
}

func goRun(s *session, dir string, args ...string) error {
	goCmd := s.e.goCmd
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(s.c.Context, goCmd, args...)
	cmd.Dir = dir
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v\n%s", err, buf.String())
	}
	return nil
}

// chooseComponents fills a's registry, broker and store from the flags,
// asking on a terminal for those not given (when ask), and checks each
// name against the catalog.
func chooseComponents(s *session, p *prompter, a *generator.Answers, ask bool) error {
	switch a.Plugins {
	case generator.ModeInProcess, generator.ModeProcess:
	default:
		return usage(s.c, "--plugins %q: use inproc (compiled into the service) or process (its own binary)", a.Plugins)
	}
	for _, kind := range []string{"registry", "broker", "store"} {
		name := s.c.String(kind)
		if name == "" && ask && p.enabled() {
			var err error
			if name, err = p.choosePlugin(kind, s.set); err != nil {
				return err
			}
		}
		if name == "" {
			continue
		}
		comp, err := resolveComponent(s, kind, name, a.Plugins)
		if err != nil {
			return err
		}
		a.SetComponent(comp)
	}
	return nil
}

// resolveComponent turns --KIND NAME into a component: an embedded
// implementation, or a plugin of the catalog with its package (in process)
// and its default address.
func resolveComponent(s *session, kind, name, mode string) (generator.Component, error) {
	name = strings.TrimPrefix(name, kind+"/")
	c := generator.Component{Kind: kind, Name: name}
	if c.Embedded() {
		return c, nil
	}
	ref, err := catalog.ParseRef(kind + "/" + name)
	if err != nil {
		return c, &exitError{code: 2, msg: fmt.Sprintf("--%s %q: %v (micro-new list --json shows the plugins)", kind, name, err)}
	}
	entry, err := s.set.Lookup(ref)
	if err != nil && mode == generator.ModeProcess {
		// Out of process, a plugin installed from a local build (micro-new
		// install KIND/NAME --from DIR) is enough.
		if lock, lerr := s.installed(); lerr == nil {
			if _, ok := lock.Get(kind + "/" + name); ok {
				return c, nil
			}
		}
	}
	if err != nil {
		return c, &exitError{code: 2, msg: fmt.Sprintf("--%s %q: %v; choose one that `micro-new list` shows, or the embedded %s", kind, name, err, strings.Join(embeddedNames(kind), " or "))}
	}
	c.Name = entry.Plugin.Name[len(kind)+1:]
	v := entry.Plugin.Latest()
	if v == nil {
		return c, fmt.Errorf("%s has no version in its catalog", entry.Plugin.Name)
	}
	for _, st := range v.Settings {
		if st.Name == "url" && len(st.Default) > 0 {
			var u string
			if json.Unmarshal(st.Default, &u) == nil {
				c.Address = u
			}
		}
	}
	if mode == generator.ModeInProcess {
		if v.Source == nil || v.Source.Module != "" {
			return c, &exitError{code: 2, msg: fmt.Sprintf("--%s %s: it is not a package of the micro module, so it cannot be compiled in: use --plugins process", kind, name)}
		}
		pkg := v.Source.Package
		if i := strings.Index(pkg, "/cmd/"); i >= 0 {
			pkg = pkg[:i]
		}
		if pkg == generator.CoreModule+"/plugins/"+kind+"/memory" {
			return c, &exitError{code: 2, msg: fmt.Sprintf("--%s memory: in process, use the embedded memory (it needs no plugin)", kind)}
		}
		c.Package = pkg
	}
	return c, nil
}

func embeddedNames(kind string) []string {
	var out []string
	for _, n := range []string{"local", "direct", "memory"} {
		if generator.IsEmbedded(kind, n) {
			out = append(out, n)
		}
	}
	return out
}

func asNameError(err error, target **generator.NameError) bool {
	ne, ok := err.(*generator.NameError)
	if ok {
		*target = ne
	}
	return ok
}

// loadTemplateSet returns the built-in set kind, or the custom one of
// --template or $MICRO_NEW_TEMPLATES (a directory holding a KIND set, or the
// set itself), validated.
func loadTemplateSet(s *session, kind string) (*generator.Set, string, error) {
	dir := s.c.String("template")
	if dir == "" {
		dir = s.e.getenv(envTemplates)
	}
	if dir == "" {
		fsys, err := builtinSet(kind)
		if err != nil {
			return nil, "", err
		}
		set, err := generator.LoadSet(fsys)
		return set, "builtin:" + kind, err
	}
	if fi, err := os.Stat(filepath.Join(dir, kind)); err == nil && fi.IsDir() {
		dir = filepath.Join(dir, kind)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	set, err := generator.LoadSet(os.DirFS(abs))
	if err != nil {
		return nil, "", fmt.Errorf("--template %s: %w", dir, err)
	}
	if err := generator.Validate(set, kind); err != nil {
		return nil, "", fmt.Errorf("--template %s: %w", dir, err)
	}
	return set, abs, nil
}
