package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/internal/install"
)

// env is everything micro-new takes from its process, so that tests can run
// it in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	wd             string // working directory: where a project lock is looked for
	terminal       bool   // stderr is a terminal: draw progress bars
	client         *http.Client
	handshake      *install.Handshake // nil: the plugin host's
	goCmd          string             // "": go from $PATH
	stdin          io.Reader          // nil: no input; never prompt
	stdinTerminal  bool               // stdin is a terminal: prompts may ask
}

// Environment variables.
const (
	envCatalog   = "MICRO_CATALOG"
	envPluginDir = "MICRO_PLUGIN_DIR"
	envSourceDir = "MICRO_SOURCE_DIR"
)

// exitError carries an exit code; its message is already printed when empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run runs micro-new with args (args[0] is the program name) and returns its
// exit code: 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, e *env) int {
	app := newApp(e)
	err := app.RunContext(ctx, normalizeArgs(app, args))
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(e.stderr, "micro-new: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(e.stderr, "micro-new: %v\n", err)
	return 1
}

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:  "micro-new",
		Usage: "install and manage micro plugins",
		Description: `micro-new finds plugins in the catalog, installs them into the plugin
directory and pins their sha256 in its lock file (micro.lock). A service
started with --broker NAME (or --registry, --store) runs an installed plugin
out-of-process and refuses a binary whose sha256 differs from the lock.

Plugins are named <kind>/<name>, e.g. broker/rabbitmq. A name found in more
than one catalog is qualified with the catalog's name: acme:broker/rabbitmq.
A version is chosen with @: broker/rabbitmq@0.1.0.

A project pins its plugins in its own micro.lock, committed like a Terraform
lock file: inside a project (a directory with micro.lock, or below one),
"micro-new install NAME" also pins NAME there, and "micro-new install" with no
argument installs exactly what the project pins.

Flags may follow the command and its arguments.`,
		Version:         version(),
		Writer:          e.stdout,
		ErrWriter:       e.stderr,
		HideHelpCommand: false,
		Suggest:         true,
		ExitErrHandler:  func(*cli.Context, error) {}, // run prints errors
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &exitError{code: 2, msg: err.Error() + " (see micro-new help)"}
		},
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  "plugin-dir",
				Usage: "the plugin directory: where plugins are installed, with their lock file `DIR`/micro.lock (default $" + envPluginDir + ", else $XDG_DATA_HOME/micro/plugins, else ~/.local/share/micro/plugins)",
			},
			&cli.StringSliceFlag{
				Name:  "catalog",
				Usage: "a further catalog, as a `PATH|URL` (http, https or file); repeatable, and added to those of $" + envCatalog + " (comma-separated; paths may also be colon-separated) and the built-in one",
			},
			&cli.BoolFlag{
				Name:  "json",
				Usage: "write JSON to standard output, for scripts",
			},
		},
		Commands: []*cli.Command{
			listCommand(e),
			searchCommand(e),
			infoCommand(e),
			installCommand(e),
			removeCommand(e),
			verifyCommand(e),
			outdatedCommand(e),
			upgradeCommand(e),
			serviceCommand(e),
			pluginCommand(e),
			useCommand(e),
			templatesCommand(e),
		},
	}
	return app
}

// version is micro-new's module version, "(devel)" for a build from a checkout.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// releaseVersion is the module version of a released micro-new, or "".
func releaseVersion() string {
	v := version()
	if v == "(devel)" || strings.Contains(v, "+dirty") {
		return ""
	}
	return v
}

// normalizeArgs moves flags that follow a command's arguments before them,
// and global flags given after the command before it, since urfave/cli v2
// stops parsing flags at the first argument: `micro-new install broker/x
// --from f` and `micro-new list --json` both work. "--" ends flags.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	takesValue := func(flags []cli.Flag, tok string) (known, value bool) {
		name, _, hasEq := strings.Cut(strings.TrimLeft(tok, "-"), "=")
		if name == "h" || name == "help" {
			return true, false
		}
		for _, f := range flags {
			for _, n := range f.Names() {
				if n == name {
					_, isBool := f.(*cli.BoolFlag)
					return true, !isBool && !hasEq
				}
			}
		}
		return false, false
	}
	out := []string{args[0]}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		out = append(out, args[i])
		if _, v := takesValue(app.Flags, args[i]); v && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
		i++
	}
	if i >= len(args) {
		return out
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return append(out, args[i:]...)
	}
	name := args[i]
	var globals, flags, positional []string
	for i++; i < len(args); i++ {
		tok := args[i]
		if tok == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			positional = append(positional, tok)
			continue
		}
		dst := &flags
		known, v := takesValue(cmd.Flags, tok)
		if !known {
			if k, gv := takesValue(app.Flags, tok); k {
				dst, v = &globals, gv
			}
		}
		*dst = append(*dst, tok)
		if v && i+1 < len(args) {
			i++
			*dst = append(*dst, args[i])
		}
	}
	out = append(append(append(out, globals...), name), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}
