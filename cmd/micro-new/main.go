// Command micro-new installs micro plugins from the catalog and manages the
// plugin directory.
//
//	micro-new list                      every plugin of the catalogs, installed ones marked
//	micro-new info broker/rabbitmq      a plugin's versions, settings and infrastructure
//	micro-new install broker/rabbitmq   build or fetch it, verify it, pin its sha256
//	micro-new verify                    re-hash every installed plugin against the lock
//	micro-new doctor                    check Go, the plugin source, the plugin directory, the servers
//	micro-new completion bash           the shell completion script (bash, zsh, fish)
//
// Exit status: 0 on success, 1 when the command failed, 2 for a usage error.
// Run `micro-new help` for every command and flag.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	// SIGTERM (systemd, timeout, kill) stops an install as SIGINT does: the
	// build's process group is killed and the staging directory removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, _ := os.Getwd()
	os.Exit(run(ctx, os.Args, &env{
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		stdin:         os.Stdin,
		getenv:        os.Getenv,
		wd:            wd,
		terminal:      isTerminal(os.Stderr),
		interactive:   isTerminal(os.Stderr) && isTerminal(os.Stdin),
		stdinTerminal: isTerminal(os.Stdin),
		width:         func() int { return terminalWidth(os.Stderr) },
	}))
}

// terminalWidth returns the width of the terminal f is, or 80.
func terminalWidth(f *os.File) int {
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
		return w
	}
	return 80
}

// isTerminal reports whether f is a character device (a terminal), where
// progress is drawn as a bar rather than printed line by line.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
