// Command micro-new installs micro plugins from the catalog and manages the
// plugin directory.
//
//	micro-new list                      every plugin of the catalogs, installed ones marked
//	micro-new info broker/rabbitmq      a plugin's versions, settings and infrastructure
//	micro-new install broker/rabbitmq   build or fetch it, verify it, pin its sha256
//	micro-new verify                    re-hash every installed plugin against the lock
//
// Run `micro-new help` for every command and flag.
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wd, _ := os.Getwd()
	e := &env{
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		getenv:   os.Getenv,
		wd:       wd,
		terminal: isTerminal(os.Stderr),
		client:   http.DefaultClient,
	}
	e.stdin, e.stdinTerminal = os.Stdin, isTerminal(os.Stdin)
	os.Exit(run(ctx, os.Args, e))
}

// isTerminal reports whether f is a character device (a terminal), where
// progress is drawn as a bar rather than printed line by line.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
