package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/urfave/cli/v2"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/install"
)

// session is what a command works with: the catalogs, the plugin directory
// and, inside a project, the project's lock.
type session struct {
	e           *env
	c           *cli.Context
	json        bool
	set         *catalog.Set
	pluginDir   string
	projectLock string // path, or "" outside a project
}

func newSession(c *cli.Context, e *env) (*session, error) {
	s := &session{e: e, c: c, json: c.Bool("json")}
	dir := c.String("plugin-dir")
	var err error
	if dir == "" {
		dir, err = pluginlock.DirFromEnv(e.getenv)
		if err != nil {
			return nil, err
		}
	}
	if s.pluginDir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	refs := catalog.SplitList(e.getenv(envCatalog))
	refs = append(refs, c.StringSlice("catalog")...)
	s.set, err = catalog.LoadSet(c.Context, refs, catalog.WithHTTPClient(e.client), catalog.WithTimeout(e.timeouts.Total))
	if err != nil {
		return nil, fmt.Errorf("%w\n  to fix: correct or drop the catalog in --catalog or $%s", err, envCatalog)
	}
	if p, err := pluginlock.Find(e.wd); err == nil && filepath.Dir(p) != s.pluginDir {
		s.projectLock = p
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return s, nil
}

// installer returns an installer for the plugin directory. Plugins of the
// micro module are built from its source (see findSource).
func (s *session) installer() *install.Installer {
	goCmd := s.e.goCmd
	if goCmd == "" {
		goCmd = "go"
	}
	src := findSource(s.c.Context, s.e, goCmd)
	hs := pluginHandshake()
	if s.e.handshake != nil {
		hs = *s.e.handshake
	}
	return install.New(s.pluginDir,
		install.WithGo(goCmd),
		install.WithSourceDir(src.dir),
		install.WithModuleVersion(src.version),
		install.WithNoSource(src.err),
		install.WithHTTPClient(s.e.client),
		install.WithTimeouts(s.e.timeouts),
		install.WithHandshake(hs),
		install.WithProgress(s.progress()),
		install.WithLockWait(func(pid int) {
			fmt.Fprintf(s.e.stderr, "micro-new: waiting for another micro-new (pid %d) to finish with %s\n", pid, s.pluginDir)
		}),
	)
}

// progress reports on stderr; with --json off a terminal, not at all, so
// that a script reads only the JSON error there.
func (s *session) progress() install.Progress {
	if s.json && !s.e.terminal {
		return install.NoProgress()
	}
	width := s.e.width
	if width == nil {
		width = func() int { return 80 }
	}
	return install.NewProgress(s.e.stderr, s.e.terminal, install.WithWidth(width))
}

// installed returns the plugin directory's lock.
func (s *session) installed() (*pluginlock.File, error) {
	return pluginlock.ReadDir(s.pluginDir)
}

// project returns the project's lock, or nil outside a project.
func (s *session) project() (*pluginlock.File, error) {
	if s.projectLock == "" {
		return nil, nil
	}
	return pluginlock.Read(s.projectLock)
}

// lookup resolves a plugin reference against the catalogs.
func (s *session) lookup(arg string) (catalog.Ref, catalog.Entry, error) {
	ref, err := catalog.ParseRef(arg)
	if err != nil {
		return ref, catalog.Entry{}, err
	}
	e, err := s.set.Lookup(ref)
	return ref, e, err
}

func (s *session) writeJSON(v any) error {
	enc := json.NewEncoder(s.e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (s *session) printf(format string, args ...any) {
	fmt.Fprintf(s.e.stdout, format, args...)
}
