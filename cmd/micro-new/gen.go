package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/generator/typed"
)

// genCommand is `micro-new gen`: typed clients for the handlers of Go
// packages (package generator/typed).
func genCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "gen",
		Usage:     "write a typed client beside each package of handlers",
		ArgsUsage: "[PACKAGES]",
		Description: `gen loads the Go packages named (default ./..., resolved in the current
directory, as go build takes them), finds their handlers the way the server
does (exported methods func(ctx context.Context, req *Req, rsp *Rsp) error,
and the stream shapes func(ctx, *Req, server.ServerStream[Rsp]) error and
func(ctx, server.BidiStream[Req, Rsp]) error) and writes beside each such
package a client package <dir>/<name>client with a method per endpoint (a
stream endpoint's returns a typed stream: Recv, and Send and CloseSend for
client and bidirectional streams), the service and endpoint names as constants,
and a Publisher with a method per topic that the package subscribes to. A
subscriber names its topic in its doc comment:

   //micro:subscribe TopicGreeted
   func (g *Greeter) OnGreeted(ctx context.Context, ev *Greeted) error

Methods that look meant as endpoints but have another shape are reported
with their position and why (--strict makes that an error). A package that
does not compile gets nothing written. Files whose content would not change
are left alone, so gen is cheap to run from //go:generate micro-new gen.`,
		CustomHelpTemplate: withExamples("micro-new gen                      # every package below the current directory", "micro-new gen ./greeter            # one package", "micro-new gen --check ./...        # exit 1 if a client is out of date (CI)"),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "write nothing; exit 1 and list the clients that are missing or out of date"},
			&cli.BoolFlag{Name: "strict", Usage: "exit 1 when a method looks meant as an endpoint or subscriber but is not one"},
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &exitError{code: 2, msg: err.Error() + " (see micro-new gen --help)"}
		},
		Action: func(c *cli.Context) error {
			patterns := c.Args().Slice()
			if e.terminal {
				fmt.Fprintln(e.stderr, "micro-new gen: loading and type-checking packages...")
			}
			res, perr := typed.Plan(c.Context, e.wd, patterns...)
			if res == nil {
				return &exitError{code: 1, msg: trimDir(e.wd, perr.Error())}
			}
			for _, d := range res.Diagnostics {
				d.Pos.Filename = genRel(e.wd, d.Pos.Filename)
				fmt.Fprintf(e.stderr, "%s\n", d)
			}
			if c.Bool("check") {
				var stale []string
				for _, f := range res.Files {
					if old, err := os.ReadFile(f.Path); err != nil || !bytes.Equal(old, f.Content) {
						stale = append(stale, genRel(e.wd, f.Path))
					}
				}
				for _, s := range stale {
					fmt.Fprintf(e.stdout, "out of date: %s\n", s)
				}
				if len(stale) > 0 {
					return &exitError{code: 1, msg: fmt.Sprintf("%d generated client(s) out of date: run micro-new gen", len(stale))}
				}
			} else {
				written, err := typed.Write(res)
				for _, w := range written {
					fmt.Fprintf(e.stdout, "wrote %s\n", genRel(e.wd, w))
				}
				if err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
			}
			if perr != nil {
				return &exitError{code: 1, msg: trimDir(e.wd, perr.Error())}
			}
			if c.Bool("strict") && len(res.Diagnostics) > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d method(s) are not endpoints or subscribers (see above)", len(res.Diagnostics))}
			}
			return nil
		},
	}
}

// genRel returns path relative to dir when it is below it.
func genRel(dir, path string) string {
	if r, err := filepath.Rel(dir, path); err == nil && filepath.IsLocal(r) {
		return r
	}
	return path
}

// trimDir shortens the paths below dir in msg to relative ones.
func trimDir(dir, msg string) string {
	return strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
}
