package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the flag urfave/cli answers with completion candidates,
// one a line, for the command line before it.
const completionFlag = "--generate-bash-completion"

// The scripts ask micro-new itself for the candidates, through urfave/cli's
// completion flag, so that they follow its commands, flags and the plugins
// of the catalogs.
const bashCompletion = `# bash completion for micro-new: source <(micro-new completion bash)
_micro_new() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local args=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
	[[ $cur == -* ]] && args+=("$cur")
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${args[@]}" ` + completionFlag + ` 2>/dev/null)" -- "$cur"))
}
complete -o default -F _micro_new micro-new
`

const zshCompletion = `#compdef micro-new
# zsh completion for micro-new: source <(micro-new completion zsh)
_micro_new() {
	local -a args opts
	args=("${(@)words[2,CURRENT-1]}")
	[[ ${words[CURRENT]} == -* ]] && args+=("${words[CURRENT]}")
	opts=("${(@f)$(${words[1]} "${(@)args}" ` + completionFlag + ` 2>/dev/null)}")
	if [[ -n ${opts[1]} ]]; then
		compadd -a opts
	else
		_files
	fi
}
compdef _micro_new micro-new
`

func completionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `Prints a script that completes micro-new's commands, flags and plugin
names in the shell. Load it in the running shell, or add the line to the
shell's start-up file (~/.bashrc, ~/.zshrc,
~/.config/fish/completions/micro-new.fish).`,
		CustomHelpTemplate: withExamples(
			"source <(micro-new completion bash)                     bash, this shell",
			"echo 'source <(micro-new completion bash)' >> ~/.bashrc",
			"source <(micro-new completion zsh)                      zsh (after compinit)",
			"micro-new completion fish > ~/.config/fish/completions/micro-new.fish",
		),
		BashComplete: func(c *cli.Context) {
			fmt.Fprintln(c.App.Writer, "bash\nzsh\nfish")
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "completion takes the shell's name: bash, zsh or fish")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				_, err := fmt.Fprint(e.stdout, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(e.stdout, zshCompletion)
				return err
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(e.stdout, script)
				return err
			default:
				return usage(c, "completion: unknown shell %q, want bash, zsh or fish", sh)
			}
		},
	}
}

// completePluginNames completes a command's argument with the plugin names
// of the catalogs, and its flags.
func completePluginNames(e *env) cli.BashCompleteFunc {
	return completeWith(e, func(s *session) []string {
		var names []string
		seen := map[string]bool{}
		for _, en := range s.set.All() {
			if !seen[en.Plugin.Name] {
				seen[en.Plugin.Name] = true
				names = append(names, en.Plugin.Name)
			}
		}
		return names
	})
}

// completeInstalled completes a command's argument with the installed
// plugins, and its flags.
func completeInstalled(e *env) cli.BashCompleteFunc {
	return completeWith(e, func(s *session) []string {
		lock, err := s.installed()
		if err != nil {
			return nil
		}
		var names []string
		for _, p := range lock.Plugins {
			names = append(names, p.Name)
		}
		return names
	})
}

// completeWith completes a command's flags, or its argument with the words
// that words finds in a session of the command.
func completeWith(e *env, words func(*session) []string) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		if completeFlags(c) {
			return
		}
		s, err := newSession(c, e)
		if err != nil {
			return
		}
		for _, w := range words(s) {
			fmt.Fprintln(c.App.Writer, w)
		}
	}
}

// completeFlags writes the command's flags when the word being completed is
// a flag, and reports whether it was.
// urfave/cli takes that word from os.Args too.
func completeFlags(c *cli.Context) bool {
	if n := len(os.Args); n > 2 && strings.HasPrefix(os.Args[n-2], "-") {
		cli.DefaultCompleteWithFlags(c.Command)(c)
		return true
	}
	return false
}
