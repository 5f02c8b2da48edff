// Package cli is the `micro` command: it looks into and drives a running
// environment (services, describe, call, publish, health, watch) and serves
// the HTTP API gateway (toolkit/api), the web dashboard (toolkit/web) and
// the sidecar (toolkit/sidecar).
//
// micro chooses its registry and broker as a service does (package
// resolve): --registry, --broker and their -address and -settings flags,
// the MICRO_* environment variables or a --config file; with none it uses
// the local registry, which sees every service of this machine.
//
// # Output
//
// On a terminal micro prints tables, coloured unless NO_COLOR is set; with
// --json it prints JSON whose field names are stable:
//
//	services   [{"name", "version", "nodes", "endpoints"}]
//	describe   [{"name", "version", "metadata", "endpoints": [{"name", "request", "response", "metadata"}], "nodes": [{"id", "address", "metadata"}]}]
//	           where a request or response is {"name", "type", "fields": [...]}
//	call       the response body, as the service sent it
//	publish    {"topic", "published": true}
//	health     [{"id", "address", "status", "latency_ms", "error"}]
//	watch      one object per line: {"time", "type", "service", "version", "nodes": [{"id", "address"}]}
//
// # Exit status
//
// 0 on success, 1 on a failure, 2 on a usage error, and for a call whose
// service answered with an error, 10 plus the number of its code
// (core/errors): invalid_argument 13, deadline_exceeded 14, not_found 15,
// permission_denied 17, internal 23, unavailable 24, unauthenticated 26.
// The error's code and message go to standard error, as
// `micro: not_found: ...`, or with --json as {"code", "message"}.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/client"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/internal/cliargs"
	"github.com/seedmicro/micro/resolve"
)

// Env is everything micro takes from its process, so that tests run it in
// process.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	// StdinTerminal is true when standard input is a terminal: a call
	// without a body argument then sends {} instead of reading it.
	StdinTerminal bool
	// Terminal is true when standard output is a terminal: tables are
	// coloured (unless NO_COLOR is set).
	Terminal bool
	Getenv   func(string) string
	// Ready, when set, is told the address each server (api, web, sidecar)
	// listens on once it does.
	Ready func(tool, addr string)
}

// ExitError is an error with the exit status micro ends with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCodeOf returns the exit status for an error code: 10 plus the code.
func ExitCodeOf(c merrors.Code) int {
	if c == merrors.OK {
		return 0
	}
	return 10 + int(c)
}

// Run runs micro with args (args[0] is the program name) and returns the
// exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	app, sess := newApp(env)
	sess.args = args
	args = cliargs.Normalize(app, args) // `micro call greeter Greeter.Hello '{}' --timeout 2s`
	err := unknownCommand(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		return 0
	}
	code := 1
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
		err = ee.Err
		if err == nil {
			return code
		}
	}
	var me *merrors.Error
	if errors.As(err, &me) && code >= 10 && jsonWanted(args) {
		b, _ := json.Marshal(map[string]string{"code": me.Code().String(), "message": me.Message()})
		fmt.Fprintf(env.Stderr, "%s\n", b)
		return code
	}
	fmt.Fprintf(env.Stderr, "micro: %v\n", err)
	return code
}

// unknownCommand returns a usage error when the first argument after the
// global flags names no command.
func unknownCommand(app *cli.App, args []string) error {
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") && a != "--json" && a != "-json" && !strings.HasPrefix(a, "--generate") && a != "-h" && a != "--help" && a != "-v" && a != "--version" {
				i++ // the flag's value
			}
			continue
		}
		if a == "help" || a == "h" || app.Command(a) != nil {
			return nil
		}
		return usageErr("unknown command %q; the commands are: services, describe, call, publish, health, watch, api, web, sidecar, completion (see micro help)", a)
	}
	return nil
}

func jsonWanted(args []string) bool {
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "--json" || a == "-json" || a == "--json=true" {
			return true
		}
	}
	return false
}

func usageErr(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// componentFlags are resolve's flags for the registry and the broker.
var componentFlags = []struct{ name, usage string }{
	{"config", "a JSON config file of the registry and broker (env MICRO_CONFIG)"},
	{"registry", "the registry: local (default: the services of this machine), memory, or an installed plugin such as redis (env MICRO_REGISTRY)"},
	{"registry-address", "the registry's address; for local, its directory (env MICRO_REGISTRY_ADDRESS)"},
	{"registry-settings", "the registry's settings, a JSON object (env MICRO_REGISTRY_SETTINGS)"},
	{"broker", "the broker: direct (default), or an installed plugin such as rabbitmq (env MICRO_BROKER)"},
	{"broker-address", "the broker's address, such as amqp://host:5672 (env MICRO_BROKER_ADDRESS)"},
	{"broker-settings", "the broker's settings, a JSON object (env MICRO_BROKER_SETTINGS)"},
	{"plugin-dir", "the directory of installed plugins (env MICRO_PLUGIN_DIR)"},
}

// New returns the micro application.
func New(env Env) *cli.App {
	app, _ := newApp(env)
	return app
}

func newApp(env Env) (*cli.App, *session) {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "print JSON with stable field names instead of tables"},
	}
	for _, f := range componentFlags {
		flags = append(flags, &cli.StringFlag{Name: f.name, Usage: f.usage})
	}
	app := &cli.App{
		Name:  "micro",
		Usage: "look into and drive a running micro environment",
		Description: `micro lists the services of a registry, describes and calls them, publishes
events, and serves the HTTP API gateway, the web dashboard and the sidecar.
It chooses its registry and broker as a service does; with no flag it sees
the services of this machine (the local registry).

Flags may follow the command and its arguments. --json prints JSON, NO_COLOR
turns colours off. The exit status is 0 on success, 1 on a failure, 2 on a
usage error, and 10 plus the error code when a call fails (not_found 15).

EXAMPLES
   micro services
   micro call greeter Greeter.Hello '{"name": "Ada"}'
   micro --registry redis --registry-address redis://localhost:6379 services
   micro api --address :8080
   micro help call`,
		Writer:               env.Stdout,
		ErrWriter:            env.Stderr,
		EnableBashCompletion: true,
		Suggest:              true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageErr("%v (see micro help)", err)
		},
		Flags: flags,
	}
	s := &session{env: env}
	app.Commands = []*cli.Command{
		s.servicesCommand(),
		s.describeCommand(),
		s.callCommand(),
		s.publishCommand(),
		s.healthCommand(),
		s.watchCommand(),
		s.apiCommand(),
		s.webCommand(),
		s.sidecarCommand(),

		completionCommand(),
	}
	for _, c := range app.Commands {
		c.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return usageErr("%v (see micro %s --help)", err, c.Command.Name)
		}
	}
	return app, s
}

// session opens the registry, broker and client once per run.
type session struct {
	env  Env
	args []string // as given to Run, for completion

	mu      sync.Mutex
	cfg     *resolve.Config
	res     *resolve.Resolver
	reg     registry.Registry
	brk     broker.Broker
	cl      *client.Client
	closers []resolve.CloseFunc
}

func (s *session) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s.env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// config turns the component flags into a resolve.Config through resolve's
// own flag set, so that the precedence (flag, environment, file) is the one
// of every service.
func (s *session) config(c *cli.Context) (resolve.Config, error) {
	if s.cfg != nil {
		return *s.cfg, nil
	}
	fs := flag.NewFlagSet("micro", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rf := resolve.RegisterFlags(fs)
	for _, f := range componentFlags {
		if c.IsSet(f.name) {
			if err := fs.Set(f.name, c.String(f.name)); err != nil {
				return resolve.Config{}, usageErr("--%s: %v", f.name, err)
			}
		}
	}
	cfg, err := rf.Config(s.env.Getenv)
	if err != nil {
		return resolve.Config{}, usageErr("configuration: %v", err)
	}
	s.cfg = &cfg
	s.res = resolve.New(resolve.WithLogger(s.logger()))
	return cfg, nil
}

func (s *session) registry(c *cli.Context) (registry.Registry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg != nil {
		return s.reg, nil
	}
	cfg, err := s.config(c)
	if err != nil {
		return nil, err
	}
	reg, closeReg, err := s.res.Registry(c.Context, cfg)
	if err != nil {
		return nil, fmt.Errorf("open the registry: %w", err)
	}
	s.reg = reg
	s.closers = append(s.closers, closeReg)
	return reg, nil
}

func (s *session) broker(c *cli.Context) (broker.Broker, error) {
	reg, err := s.registry(c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.brk != nil {
		return s.brk, nil
	}
	b, closeB, err := s.res.Broker(c.Context, *s.cfg, reg)
	if err != nil {
		return nil, fmt.Errorf("open the broker: %w", err)
	}
	s.brk = b
	s.closers = append(s.closers, closeB)
	return b, nil
}

// client returns a client on the registry, and on the broker when withBroker.
func (s *session) client(c *cli.Context, withBroker bool) (*client.Client, error) {
	reg, err := s.registry(c)
	if err != nil {
		return nil, err
	}
	opts := []client.Option{client.WithRegistry(reg)}
	if withBroker {
		b, err := s.broker(c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithBroker(b))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl == nil {
		s.cl = client.New(opts...)
	}
	return s.cl, nil
}

// close closes what the session opened: the client, the broker, the
// registry.
func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		s.cl.Close()
		s.cl = nil
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i](context.Background())
	}
	s.closers, s.reg, s.brk = nil, nil, nil
}
