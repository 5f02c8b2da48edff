package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/huh"

	"github.com/seedmicro/micro/generator"
	"github.com/seedmicro/micro/internal/catalog"
)

// prompter asks on a terminal for what the flags left out. It is disabled
// with --no-input and when standard input is not a terminal.
type prompter struct {
	s  *session
	on bool
}

func newPrompter(s *session, noInput bool) *prompter {
	return &prompter{s: s, on: !noInput && s.e.stdin != nil && s.e.stdinTerminal}
}

func (p *prompter) enabled() bool { return p.on }

func (p *prompter) run(f huh.Field) error {
	form := huh.NewForm(huh.NewGroup(f)).WithInput(p.s.e.stdin).WithOutput(p.s.e.stderr).WithShowHelp(true)
	err := form.RunWithContext(p.s.c.Context)
	if errors.Is(err, huh.ErrUserAborted) {
		return &exitError{code: 1, msg: "aborted; nothing written"}
	}
	return err
}

// input asks for a required string.
func (p *prompter) input(title, desc string, check func(string) error) (string, error) {
	var v string
	err := p.run(huh.NewInput().Title(title).Description(desc).Value(&v).Validate(check))
	return strings.TrimSpace(v), err
}

// inputDefault asks for a string with a default, kept when the answer is
// empty.
func (p *prompter) inputDefault(title, def string, check func(string) error) (string, error) {
	v := def
	err := p.run(huh.NewInput().Title(title).Value(&v).Validate(func(s string) error {
		if s == "" {
			return nil
		}
		return check(s)
	}))
	if strings.TrimSpace(v) == "" {
		v = def
	}
	return strings.TrimSpace(v), err
}

// choosePlugin asks for the component of kind among the embedded
// implementations and the catalog's plugins, each with its description.
func (p *prompter) choosePlugin(kind string, set *catalog.Set) (string, error) {
	opts := []huh.Option[string]{huh.NewOption("(default) "+defaultOf(kind)+": embedded, no server", "")}
	for _, n := range embeddedNames(kind) {
		if n != defaultOf(kind) {
			opts = append(opts, huh.NewOption(n+": embedded", n))
		}
	}
	for _, e := range set.All() {
		if e.Plugin.Kind != kind || strings.HasSuffix(e.Plugin.Name, "/memory") {
			continue
		}
		name := strings.TrimPrefix(e.Plugin.Name, kind+"/")
		opts = append(opts, huh.NewOption(fmt.Sprintf("%s: %s", name, shorten(e.Plugin.Description, 70)), name))
	}
	var v string
	err := p.run(huh.NewSelect[string]().Title("Which " + kind + "?").Options(opts...).Value(&v))
	return v, err
}

func defaultOf(kind string) string {
	switch kind {
	case "registry":
		return "local"
	case "broker":
		return "direct"
	}
	return "memory"
}

var _ = generator.ModeInProcess
