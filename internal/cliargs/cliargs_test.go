package cliargs_test

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/internal/cliargs"
)

// app has the shapes of the tools' flags: global flags with and without a
// value, commands with both.
func app() *cli.App {
	return &cli.App{
		Name: "prog",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plugin-dir"},
			&cli.StringFlag{Name: "catalog"},
			&cli.BoolFlag{Name: "json"},
		},
		Commands: []*cli.Command{
			{Name: "list", Flags: []cli.Flag{&cli.BoolFlag{Name: "installed"}}},
			{Name: "info"},
			{Name: "install", Flags: []cli.Flag{&cli.StringFlag{Name: "from"}, &cli.BoolFlag{Name: "pin"}}},
			{Name: "call", Flags: []cli.Flag{&cli.DurationFlag{Name: "timeout", Aliases: []string{"t"}}}},
		},
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"list", "list"},
		{"list --json", "--json list"},
		{"list --installed --json", "--json list --installed"},
		{"--plugin-dir d install broker/x --from f --pin", "--plugin-dir d install --from f --pin -- broker/x"},
		{"install broker/x --from=f", "install --from=f -- broker/x"},
		{"info broker/x --catalog c.json", "--catalog c.json info -- broker/x"},
		{"install -- --odd", "install -- --odd"},
		{"nosuch --json", "nosuch --json"},
		{"--json", "--json"},
		// Values that look like flags or arguments.
		{"call greeter Greeter.Hello {} --timeout 2s", "call --timeout 2s -- greeter Greeter.Hello {}"},
		{"call greeter -t 2s Greeter.Hello", "call -t 2s -- greeter Greeter.Hello"},
		{"call greeter -1 -", "call -- greeter -1 -"},
		{"call greeter -0.5", "call -- greeter -0.5"},
		// Help stays with its command.
		{"install broker/x --help", "install --help -- broker/x"},
		{"install broker/x -h", "install -h -- broker/x"},
		// Unknown flags stay with the command, for urfave/cli to report.
		{"install broker/x --nosuch", "install --nosuch -- broker/x"},
		// A flag that wants a value and ends the line.
		{"install broker/x --from", "install --from"},
		{"install broker/x --catalog", "--catalog"},
		{"--catalog", "--catalog"},
	}
	for _, tt := range tests {
		got := strings.Join(cliargs.Normalize(app(), append([]string{"prog"}, strings.Fields(tt.in)...))[1:], " ")
		if got != tt.want {
			t.Errorf("Normalize(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The reordered line parses as the user meant it.
func TestNormalizeParses(t *testing.T) {
	var from, dir string
	var args []string
	a := app()
	a.Commands[2].Action = func(c *cli.Context) error {
		from, dir, args = c.String("from"), c.String("plugin-dir"), c.Args().Slice()
		return nil
	}
	line := []string{"prog", "install", "broker/x", "--from", "f", "--plugin-dir", "d", "--", "--odd"}
	if err := a.Run(cliargs.Normalize(a, line)); err != nil {
		t.Fatal(err)
	}
	if from != "f" || dir != "d" || strings.Join(args, " ") != "broker/x --odd" {
		t.Errorf("from %q, plugin-dir %q, args %q", from, dir, args)
	}
}
