package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/generator"
)

func osDirFS(dir string) fs.FS { return os.DirFS(dir) }

func pluginCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "plugin",
		Usage:     "scaffold a plugin module whose conformance suite passes at once",
		ArgsUsage: "NAME",
		Description: `Writes a Go module into --dir (default ./micro-plugin-KIND-NAME): the
implementation package (interface guard, a Config decoded strictly, New),
backed by the core's in-memory implementation until you replace the places
marked BACKEND; the binary cmd/micro-plugin-KIND-NAME (one plugin.Serve
call); the conformance suite in process, through the bridge and through the
built binary; a README; and catalog-entry.json for a catalog.`,
		CustomHelpTemplate: withExamples("micro-new plugin kafka --kind broker --module github.com/acme/micro-kafka", "cd micro-plugin-broker-kafka && go test ./...", "micro-new install broker/kafka --from ./cmd/micro-plugin-broker-kafka", "micro-new service orders --broker kafka --plugins process"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kind", Usage: "what the plugin implements: broker, registry or store (required)"},
			&cli.StringFlag{Name: "module", Usage: "the module `PATH` (default example.com/micro-plugin-KIND-NAME)"},
			&cli.StringFlag{Name: "dir", Usage: "the module's `DIR`ectory (default ./micro-plugin-KIND-NAME)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan with unified diffs and write nothing"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite files that exist and differ"},
			&cli.BoolFlag{Name: "no-input", Usage: "never prompt (micro-new plugin takes everything from flags)"},
			&cli.BoolFlag{Name: "verify", Usage: "go build and go test the module in a temporary directory before moving it into place"},
			&cli.StringFlag{Name: "template", Usage: "a custom template set `DIR` (see micro-new templates export); default $" + envTemplates},
		},
		Action: action(e, func(s *session) error { return runPlugin(s) }),
	}
}

func runPlugin(s *session) error {
	c := s.c
	if c.NArg() != 1 {
		return usage(c, "plugin takes one NAME: micro-new plugin NAME --kind broker|registry|store")
	}
	a := generator.PluginAnswers{Name: c.Args().First(), Kind: c.String("kind"), Module: c.String("module")}
	if err := generator.CheckName("NAME", a.Name); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	switch a.Kind {
	case "broker", "registry", "store":
	case "":
		return usage(c, "--kind is missing: broker, registry or store")
	default:
		return usage(c, "--kind %q: use broker, registry or store", a.Kind)
	}
	base := "micro-plugin-" + a.Kind + "-" + a.Name
	if a.Module == "" {
		a.Module = "example.com/" + base
	}
	if err := generator.CheckModule(a.Module); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	dir := c.String("dir")
	if dir == "" {
		dir = base
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.e.wd, dir)
	}
	a.CoreVersion, a.CoreReplace = generator.CoreSource(s.e.getenv)
	if a.CoreVersion == generator.DevelVersion && a.CoreReplace == "" {
		return fmt.Errorf("this micro-new is a development build and its checkout is not known: set $%s to the micro checkout to build against", generator.EnvCore)
	}
	set, setName, err := loadTemplateSet(s, "plugin")
	if err != nil {
		return err
	}
	plan, err := generator.PlanPlugin(generator.PluginRequest{Set: set, Answers: a, Dir: dir, Force: c.Bool("force"), Generator: version(), Template: setName})
	if err != nil {
		return err
	}
	out := s.e.stdout
	if c.Bool("dry-run") {
		plan.Describe(out, true)
		fmt.Fprintln(out, "dry run: nothing written")
		return nil
	}
	if cs := plan.Conflicts(); len(cs) > 0 {
		plan.Describe(s.e.stderr, false)
		return &exitError{code: 1, msg: fmt.Sprintf("%d files exist and differ: %s; nothing written (--dry-run shows the differences, --force overwrites them)", len(cs), strings.Join(cs, ", "))}
	}
	stage, err := plan.Stage()
	if err != nil {
		return err
	}
	defer stage.Cleanup()
	fmt.Fprintln(s.e.stderr, "resolving the module's dependencies (go mod tidy)...")
	if err := goRun(s, stage.Project, "mod", "tidy"); err != nil {
		fmt.Fprintf(s.e.stderr, "warning: go mod tidy failed (%v): run it in %s once the modules can be fetched\n", err, dir)
	} else if err := stage.Refresh("go.mod", "go.sum"); err != nil {
		return err
	}
	if c.Bool("verify") {
		for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"test", "./..."}} {
			fmt.Fprintf(s.e.stderr, "verifying: go %s\n", strings.Join(args, " "))
			if err := goRun(s, stage.Project, args...); err != nil {
				return fmt.Errorf("verify: go %s failed, nothing written: %v", strings.Join(args, " "), err)
			}
		}
	}
	if err := stage.Commit(); err != nil {
		return err
	}
	plan.Describe(out, false)
	rel, err := filepath.Rel(s.e.wd, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = dir
	}
	fmt.Fprintf(out, "\nNext:\n\n  cd %s\n  go test ./...      # the conformance suite\n  micro-new install %s/%s --from ./cmd/%s\n", rel, a.Kind, a.Name, base)
	return nil
}
