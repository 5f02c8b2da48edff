// Command micro looks into and drives a running micro environment: it
// lists, describes and calls services, publishes events, watches the
// registry, and serves the HTTP API gateway, the web dashboard and the
// sidecar. Run `micro help` for every command; the commands are in
// package toolkit/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/seedmicro/micro/toolkit/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Run(ctx, os.Args, cli.Env{
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
		Stdin:         os.Stdin,
		StdinTerminal: isTerminal(os.Stdin),
		Terminal:      isTerminal(os.Stdout) && os.Getenv("TERM") != "dumb",
		Getenv:        os.Getenv,
	}))
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
