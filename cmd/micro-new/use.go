package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/generator"
)

func useCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "use",
		Usage:     "inside a scaffolded service, switch its registry, broker, store or plugin mode",
		ArgsUsage: "[KIND NAME]",
		Description: `Regenerates only the files micro-new owns (micro_gen.go and micro.json), with
the new choice. A generator-owned file you have edited is merged three ways:
the version micro-new wrote, your version and the new one; a merge that
conflicts is reported and left alone unless --force. Files you own (main.go,
handler/, subscriber/, ...) are never touched.

KIND is registry, broker or store; NAME a plugin that micro-new list shows,
or an embedded one (local, direct, memory).`,
		CustomHelpTemplate: withExamples("micro-new use broker nats", "micro-new use registry redis --plugins process", "micro-new use --plugins process            # the same plugins, out of process", "micro-new use broker direct --dry-run"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "the project `DIR`ectory (default: the working directory)"},
			&cli.StringFlag{Name: "plugins", Usage: "switch how plugins run: inproc or process"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan with unified diffs and write nothing"},
			&cli.BoolFlag{Name: "force", Usage: "replace a generator-owned file whose merge with your edits conflicts"},
			&cli.BoolFlag{Name: "install", Usage: "with --plugins process: install the plugins and pin them in the project's micro.lock"},
			&cli.StringFlag{Name: "template", Usage: "a custom template set `DIR`; default the one the project was made with"},
		},
		Action: action(e, func(s *session) error { return runUse(s) }),
	}
}

func runUse(s *session) error {
	c := s.c
	dir := projectDir(s, s.e.wd)
	m, err := generator.ReadManifest(dir)
	if err != nil {
		return err
	}
	if m.Plugin != nil || m.Answers.Name == "" || m.Answers.Plugins == "" {
		return fmt.Errorf("%s was not written by micro-new service: use works on services", filepath.Join(dir, generator.ManifestName))
	}
	a := m.Answers
	a.Components = append([]generator.Component(nil), m.Answers.Components...)
	if mode := c.String("plugins"); mode != "" {
		a.Plugins = mode
	}
	switch c.NArg() {
	case 0:
		if c.String("plugins") == "" {
			return usage(c, "use needs KIND NAME (such as broker nats) or --plugins")
		}
	case 2:
		kind, name := c.Args().Get(0), c.Args().Get(1)
		switch kind {
		case "registry", "broker", "store":
		default:
			return usage(c, "use %s: the KIND is registry, broker or store", kind)
		}
		a.SetComponent(generator.Component{Kind: kind, Name: name})
	default:
		return usage(c, "use takes KIND NAME, such as: micro-new use broker nats")
	}
	if a.Plugins != generator.ModeInProcess && a.Plugins != generator.ModeProcess {
		return usage(c, "--plugins %q: use inproc or process", a.Plugins)
	}
	// Every component again: the mode may have changed what each needs.
	for i, comp := range a.Components {
		r, err := resolveComponent(s, comp.Kind, comp.Name, a.Plugins)
		if err != nil {
			return err
		}
		a.Components[i] = r
	}
	a.CoreVersion, a.CoreReplace = m.Answers.CoreVersion, m.Answers.CoreReplace
	var set *generator.Set
	if c.String("template") == "" && m.Template != "builtin:service" && m.Template != "" {
		set, err = generator.LoadSet(osDirFS(m.Template))
		if err == nil {
			err = generator.Validate(set, "service")
		}
		if err != nil {
			return fmt.Errorf("the project's template set %s: %w (give --template DIR)", m.Template, err)
		}
	} else if set, _, err = loadTemplateSet(s, "service"); err != nil {
		return err
	}
	plan, err := generator.PlanUse(generator.UseRequest{Set: set, Dir: dir, Manifest: m, Answers: a, Force: c.Bool("force"), Generator: version()})
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		plan.Describe(s.e.stdout, true)
		fmt.Fprintln(s.e.stdout, "dry run: nothing written")
		return nil
	}
	if cs := plan.Conflicts(); len(cs) > 0 {
		plan.Describe(s.e.stderr, true)
		return &exitError{code: 1, msg: fmt.Sprintf("your edits to %v conflict with the new version; nothing written (merge by hand, or --force replaces your edits)", cs)}
	}
	if err := plan.Write(); err != nil {
		return err
	}
	plan.Describe(s.e.stdout, false)
	d := generator.NewServiceData(a)
	if err := installOrTell(s, dir, "", d.Install); err != nil {
		return err
	}
	if a.Plugins == generator.ModeInProcess && len(d.InProcess) > 0 {
		// The plugins compiled in may need modules go.sum lacks.
		if a.InModule {
			fmt.Fprintln(s.e.stdout, "\nThe plugins are compiled in: run go mod tidy in the module's root.")
		} else {
			fmt.Fprintln(s.e.stderr, "resolving the project's modules (go mod tidy)...")
			if err := goRun(s, dir, "mod", "tidy"); err != nil {
				fmt.Fprintf(s.e.stderr, "warning: go mod tidy failed (%v): run it once the modules can be fetched\n", err)
			}
		}
	}
	return nil
}
