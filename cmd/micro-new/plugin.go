package main

import (
	"io/fs"
	"os"

	"github.com/urfave/cli/v2"
)

func osDirFS(dir string) fs.FS { return os.DirFS(dir) }

func pluginCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "plugin",
		Usage: "scaffold a plugin module",
		Action: func(c *cli.Context) error {
			return &exitError{code: 1, msg: "not yet"}
		},
	}
}
