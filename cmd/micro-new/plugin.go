package main

import (
	"fmt"
	"io/fs"
	"os"

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
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "kind", Usage: "what the plugin implements: broker, registry or store (required)"},
			&cli.StringFlag{Name: "module", Usage: "the module `PATH` (default example.com/micro-plugin-KIND-NAME)"},
			&cli.StringFlag{Name: "dir", Usage: "the module's `DIR`ectory (default ./micro-plugin-KIND-NAME)"},
		}, writeFlags("module", "never prompt (micro-new plugin takes everything from flags)")...),
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
	dir := projectDir(s, base)
	var err error
	if a.CoreVersion, a.CoreReplace, err = coreSource(s); err != nil {
		return err
	}
	set, setName, err := loadTemplateSet(s, "plugin")
	if err != nil {
		return err
	}
	plan, err := generator.PlanPlugin(generator.PluginRequest{Set: set, Answers: a, Dir: dir, Force: c.Bool("force"), Generator: version(), Template: setName})
	if err != nil {
		return err
	}
	rel, err := writePlan(s, plan, dir, planOptions{what: "module", dryRun: c.Bool("dry-run"), verify: c.Bool("verify"), tidy: true})
	if err != nil || rel == "" {
		return err
	}
	out := s.e.stdout
	fmt.Fprintf(out, "\nNext:\n\n  cd %s\n  go test ./...      # the conformance suite\n  micro-new install %s/%s --from ./cmd/%s\n", rel, a.Kind, a.Name, base)
	return nil
}
