package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/cliargs"
	"github.com/seedmicro/micro/internal/install"
)

// env is everything micro-new takes from its process, so that tests can run
// it in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	wd             string // working directory: where a project lock is looked for
	stdin          io.Reader
	terminal       bool         // stderr is a terminal: draw progress bars
	interactive    bool         // stdin and stderr are terminals: questions may be asked
	width          func() int   // the terminal's width in columns; nil: 80
	client         *http.Client // nil: one with timeouts (install.NewHTTPClient)
	timeouts       install.Timeouts
	handshake      *install.Handshake // nil: the plugin host's
	goCmd          string             // "": go from $PATH
	stdinTerminal  bool               // stdin is a terminal: prompts may ask
}

// Environment variables.
const (
	envCatalog   = "MICRO_CATALOG"
	envPluginDir = "MICRO_PLUGIN_DIR"
	envSourceDir = "MICRO_SOURCE_DIR"
	envTimeout   = "MICRO_HTTP_TIMEOUT"
)

// exitError carries an exit code; its message is already printed when empty.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Exit statuses, as the root help documents them.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // a usage error: unknown command or flag, missing or extra argument
)

// run runs micro-new with args (args[0] is the program name) and returns its
// exit code: 0 on success, 1 on failure, 2 on a usage error. With --json, an
// error goes to stderr as a JSON object.
func run(ctx context.Context, args []string, e *env) int {
	e.timeouts = install.DefaultTimeouts()
	if v := e.getenv(envTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(e.stderr, "micro-new: $%s=%q is not a positive duration: write it as 30s or 2m\n", envTimeout, v)
			return exitUsage
		}
		e.timeouts = install.TimeoutsFrom(d)
	}
	if e.client == nil {
		e.client = install.NewHTTPClient(e.timeouts)
	}
	app := newApp(e)
	asJSON := jsonRequested(args)
	var notFound string
	app.CommandNotFound = func(_ *cli.Context, name string) { notFound = name } // `help NAME` of an unknown NAME
	err := app.RunContext(ctx, normalizeArgs(app, args))
	if err == nil && notFound != "" {
		err = unknownCommand(app, notFound)
	}
	if err == nil {
		return exitOK
	}
	code, msg, fix := exitFailure, err.Error(), ""
	var ee *exitError
	if errors.As(err, &ee) {
		code, msg = ee.code, ee.msg
	}
	var ie *install.Error
	if errors.As(err, &ie) && ie.Fix != "" {
		fix = ie.Fix
	}
	if msg == "" {
		return code
	}
	if asJSON {
		out := struct {
			Error    string `json:"error"`
			Fix      string `json:"fix,omitempty"`
			ExitCode int    `json:"exit_code"`
			Usage    bool   `json:"usage_error"`
		}{msg, fix, code, code == exitUsage}
		b, _ := json.Marshal(out)
		fmt.Fprintf(e.stderr, "%s\n", b)
		return code
	}
	fmt.Fprintf(e.stderr, "micro-new: %s\n", msg)
	return code
}

// jsonRequested reports whether --json is among the flags of args.
func jsonRequested(args []string) bool {
	for _, a := range args[1:] {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "-json" || a == "--json=true" || a == "-json=true" {
			return true
		}
	}
	return false
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
		Version:              version(),
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		Suggest:              false, // unknownCommand suggests, more strictly
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run prints errors
		OnUsageError:         onUsageError,
		CustomAppHelpTemplate: cli.AppHelpTemplate + `
EXAMPLES:
   micro-new list                              the plugins of the catalogs
   micro-new install broker/redis              build, verify and pin a plugin
   micro-new doctor                            check Go, the source, the plugin directory and the servers
   source <(micro-new completion bash)         complete commands and plugin names in bash

EXIT STATUS:
   0  success
   1  the command failed (a build, a download, a verification)
   2  a usage error: unknown command or flag, missing or extra argument;
      the message says what was wrong and how to write it

With --json, an error is written to stderr as one JSON object:
{"error": "...", "fix": "...", "exit_code": N, "usage_error": true|false}
`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				cli.ShowAppHelp(c)
				return &exitError{code: exitUsage, msg: "no command given: see the commands above, e.g. micro-new list"}
			}
			return unknownCommand(c.App, c.Args().First())
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
				Usage: "write JSON to standard output, for scripts (and errors as JSON to standard error)",
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
			doctorCommand(e),
			completionCommand(e),
			genCommand(e),
			serviceCommand(e),
			pluginCommand(e),
			useCommand(e),
			templatesCommand(e),
		},
	}
	for _, cmd := range app.Commands {
		conventions(cmd)
	}
	return app
}

// conventions gives a command what every command of micro-new has: usage
// errors with exit status 2, and no "help" subcommand of its own.
func conventions(cmd *cli.Command) {
	cmd.OnUsageError = onUsageError
	cmd.HideHelpCommand = true
	for _, sub := range cmd.Subcommands {
		conventions(sub)
	}
}

// withExamples returns a command help template that ends with an EXAMPLES
// section: lines of "command   what it does".
func withExamples(lines ...string) string {
	return cli.CommandHelpTemplate + "\nEXAMPLES:\n   " + strings.Join(lines, "\n   ") + "\n"
}

// onUsageError turns a flag that does not parse into a usage error (exit
// status 2) naming the flag, with the nearest flag of the command.
func onUsageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	where := "micro-new help"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		where = "micro-new " + c.Command.Name + " --help"
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		var flags []cli.Flag
		if c.Command != nil {
			flags = c.Command.Flags
		}
		if c.Command == nil || c.Command.Name == "" || c.Command.Name == c.App.Name {
			flags = c.App.Flags
		}
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		msg = "unknown flag --" + name
		if s := catalog.Closest(name, names); s != "" {
			msg += "; did you mean --" + s + "?"
		}
	}
	return &exitError{code: exitUsage, msg: msg + " (see " + where + ")"}
}

// unknownCommand is the usage error for a command micro-new does not have,
// with the nearest command (by its names and aliases) when one is near.
func unknownCommand(app *cli.App, name string) error {
	var names []string
	primary := map[string]string{}
	for _, c := range app.VisibleCommands() {
		for _, n := range c.Names() {
			names = append(names, n)
			primary[n] = c.Name
		}
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := catalog.Closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", primary[s])
	}
	return &exitError{code: exitUsage, msg: msg + " (micro-new help lists the commands)"}
}

// normalizeArgs reorders args for urfave/cli (see cliargs.Normalize):
// `micro-new install broker/x --from f` and `micro-new list --json` both
// work. A line that asks for shell completion is left as typed.
func normalizeArgs(app *cli.App, args []string) []string {
	if n := len(args); n > 1 && args[n-1] == completionFlag {
		return args // shell completion: urfave/cli reads the words as typed
	}
	return cliargs.Normalize(app, args)
}
