// Package cliargs reorders a command line for urfave/cli v2, which stops
// parsing flags at the first argument: the tools accept flags after a
// command's arguments (`micro call greeter Greeter.Hello '{}' --timeout 2s`,
// `micro-new install broker/x --from f`) and global flags after the command
// (`micro-new list --json`).
package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Normalize returns args (args[0] is the program name) with the flags that
// follow a command's arguments moved before them, and the global flags given
// after the command moved before it: `prog [globals] cmd [flags] -- [args]`.
// "--" ends flags; "-" and words such as "-1" are arguments. A flag that
// wants a value and ends the line is left last, for urfave/cli to say that
// it needs one. A line whose first word is no command of app is returned as
// it is, for the caller to report.
func Normalize(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
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
		if isArgument(tok) {
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
		} else if v {
			// A flag that wants a value ends the line: let urfave/cli say
			// so, rather than take "--" or the command for its value.
			if dst == &globals {
				return []string{args[0], tok}
			}
			return append(append(append(out, globals...), name), flags...)
		}
	}
	out = append(append(append(out, globals...), name), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

// isArgument reports whether tok, after a command, is an argument rather
// than a flag: a word without a leading dash, "-" alone, or a negative
// number such as -1 or -0.5.
func isArgument(tok string) bool {
	return !strings.HasPrefix(tok, "-") || tok == "-" || tok[1] >= '0' && tok[1] <= '9'
}

// takesValue reports whether tok names one of flags (known) and whether
// the next word is its value: it is not a boolean flag and tok has no
// "=value". -h and --help are known and take no value, so that they stay
// with the command they follow.
func takesValue(flags []cli.Flag, tok string) (known, value bool) {
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
