package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/templates"
)

func builtinSet(kind string) (fs.FS, error) { return templates.Set(kind) }

func templatesCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "templates",
		Usage: "work with the template sets that service and plugin render",
		CustomHelpTemplate: withExamples(
			"micro-new templates export ./micro-templates   # write the built-in sets, to keep your own",
			"micro-new service greeter --template ./micro-templates"),
		Subcommands: []*cli.Command{{
			Name:      "export",
			Usage:     "write the built-in template sets into DIR, to keep and change your own",
			ArgsUsage: "DIR",
			Description: `Writes DIR/service and DIR/plugin. Every file ending in .tmpl is a Go
text/template with the sprig functions; template.json names the kind of the
set and the files micro-new owns. Use a changed set with --template DIR or
$` + envTemplates + `; it is checked before use: it must still render, and its
Go files must parse.`,
			CustomHelpTemplate: withExamples("micro-new templates export ./micro-templates", "micro-new service greeter --template ./micro-templates"),
			Flags:              []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "overwrite files that exist"}},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usage(c, "export takes one DIR")
				}
				dir := c.Args().First()
				if !filepath.IsAbs(dir) {
					dir = filepath.Join(e.wd, dir)
				}
				n := 0
				for _, name := range templates.Names() {
					fsys, err := templates.Set(name)
					if err != nil {
						return err
					}
					// Check first, then write: an existing file stops the
					// export before anything is written.
					err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
						if err != nil || d.IsDir() {
							return err
						}
						dst := filepath.Join(dir, name, filepath.FromSlash(p))
						if _, err := os.Stat(dst); err == nil && !c.Bool("force") {
							return &exitError{code: 1, msg: fmt.Sprintf("%s exists; nothing written (--force overwrites)", dst)}
						}
						return nil
					})
					if err != nil {
						return err
					}
				}
				for _, name := range templates.Names() {
					fsys, _ := templates.Set(name)
					err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
						if err != nil || d.IsDir() {
							return err
						}
						data, err := fs.ReadFile(fsys, p)
						if err != nil {
							return err
						}
						dst := filepath.Join(dir, name, filepath.FromSlash(p))
						if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
							return err
						}
						n++
						return os.WriteFile(dst, data, 0o644)
					})
					if err != nil {
						return err
					}
				}
				fmt.Fprintf(e.stdout, "wrote %d files into %s\n", n, dir)
				return nil
			},
		}},
	}
}
