package cli_test

import (
	"context"
	"fmt"
	"os"

	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/toolkit/cli"
)

// A program can run micro's commands in process.
func ExampleRun() {
	code := cli.Run(context.Background(), []string{"micro", "completion", "nosuchshell"}, cli.Env{Stdout: os.Stdout, Stderr: os.Stdout})
	fmt.Println("exit status", code)
	// Output:
	// micro: completion: unknown shell "nosuchshell"; want bash, zsh or fish
	// exit status 2
}

func ExampleExitCodeOf() {
	fmt.Println(cli.ExitCodeOf(merrors.NotFound), cli.ExitCodeOf(merrors.Unavailable))
	// Output: 15 24
}
