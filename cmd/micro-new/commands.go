package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/install"
)

// action wraps a command body with the session it needs.
func action(e *env, f func(s *session) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		s, err := newSession(c, e)
		if err != nil {
			return err
		}
		return f(s)
	}
}

func usage(c *cli.Context, format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...) + fmt.Sprintf(" (see micro-new %s --help)", c.Command.Name)}
}

// pluginJSON is a plugin as list, search and info write it with --json.
type pluginJSON struct {
	Name        string             `json:"name"`
	Kind        string             `json:"kind"`
	Catalog     string             `json:"catalog"`
	Description string             `json:"description"`
	Homepage    string             `json:"homepage,omitempty"`
	Latest      string             `json:"latest"`
	Versions    []string           `json:"versions"`
	Installed   *pluginlock.Plugin `json:"installed,omitempty"`
	Pinned      *pluginlock.Plugin `json:"pinned,omitempty"`
}

type row struct {
	entry     catalog.Entry
	installed *pluginlock.Plugin
}

// rows pairs catalog entries with what is installed. An installed plugin
// counts for the entry of its catalog.
func (s *session) rows(entries []catalog.Entry) ([]row, error) {
	lock, err := s.installed()
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, e := range entries {
		r := row{entry: e}
		if p, ok := lock.Get(e.Plugin.Name); ok && (p.Catalog == e.Catalog.Name || p.Catalog == "") {
			r.installed = &p
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (s *session) writePlugins(rows []row) error {
	if s.json {
		out := make([]pluginJSON, 0, len(rows))
		for _, r := range rows {
			p := r.entry.Plugin
			out = append(out, pluginJSON{Name: p.Name, Kind: p.Kind, Catalog: r.entry.Catalog.Name, Description: p.Description,
				Homepage: p.Homepage, Latest: p.Latest().Version, Versions: p.VersionList(), Installed: r.installed})
		}
		return s.writeJSON(out)
	}
	if len(rows) == 0 {
		s.printf("no plugins\n")
		return nil
	}
	multi := len(s.set.Catalogs()) > 1
	tw := tabwriter.NewWriter(s.e.stdout, 0, 0, 2, ' ', 0)
	head := "NAME\tKIND\tLATEST\tINSTALLED\t"
	if multi {
		head += "CATALOG\t"
	}
	fmt.Fprintln(tw, head+"DESCRIPTION")
	for _, r := range rows {
		p := r.entry.Plugin
		inst := "-"
		if r.installed != nil {
			inst = "* " + r.installed.Version
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t", p.Name, p.Kind, p.Latest().Version, inst)
		if multi {
			line += r.entry.Catalog.Name + "\t"
		}
		fmt.Fprintln(tw, line+shorten(p.Description, 70))
	}
	return tw.Flush()
}

// uncatalogued returns rows for the installed plugins that no row covers:
// installed with --from, or from a catalog that is not loaded.
func (s *session) uncatalogued(rows []row) ([]row, error) {
	lock, err := s.installed()
	if err != nil {
		return nil, err
	}
	var out []row
	for _, p := range lock.Plugins {
		if slices.ContainsFunc(rows, func(r row) bool { return r.installed != nil && r.installed.Name == p.Name }) {
			continue
		}
		cat := p.Catalog
		desc := "installed from catalog " + cat + ", which is not loaded"
		if cat == "" {
			cat, desc = "-", "installed with --from "+p.Source
		}
		kind, _, _ := strings.Cut(p.Name, "/")
		plug := &catalog.Plugin{Name: p.Name, Kind: kind, Description: desc, Versions: []catalog.Version{{Version: p.Version}}}
		out = append(out, row{entry: catalog.Entry{Catalog: &catalog.Catalog{Name: cat}, Plugin: plug}, installed: &p})
	}
	return out, nil
}

func shorten(s string, n int) string {
	if i := strings.IndexAny(s, ":."); i > 0 && i < n {
		s = s[:i]
	}
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

func listCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the plugins of the catalogs; installed ones are marked *",
		CustomHelpTemplate: withExamples(
			"micro-new list                     every plugin, installed ones marked *",
			"micro-new ls --installed           only what is installed",
			"micro-new list --json | jq -r '.[].name'",
		),
		Description: `Lists every plugin of the built-in catalog and of the catalogs given with
--catalog or $MICRO_CATALOG, with its kind, latest version and the version
installed in the plugin directory. --json writes each plugin with its kind,
catalog, versions and installed version.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "installed", Usage: "only the installed plugins"},
		},
		Action: action(e, func(s *session) error {
			if s.c.NArg() > 0 {
				return usage(s.c, "list takes no argument; to search, run micro-new search %s", s.c.Args().First())
			}
			rows, err := s.rows(s.set.All())
			if err != nil {
				return err
			}
			if s.c.Bool("installed") {
				rows = slices.DeleteFunc(rows, func(r row) bool { return r.installed == nil })
				orphans, err := s.uncatalogued(rows)
				if err != nil {
					return err
				}
				rows = append(rows, orphans...)
			}
			return s.writePlugins(rows)
		}),
	}
}

func searchCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "search",
		Usage:     "find plugins whose name, description, settings or infrastructure mention TERM",
		ArgsUsage: "TERM",
		CustomHelpTemplate: withExamples(
			"micro-new search redis             the plugins that use Redis",
			"micro-new search --json stream",
		),
		Action: action(e, func(s *session) error {
			if s.c.NArg() != 1 {
				return usage(s.c, "search takes one TERM, e.g. micro-new search redis")
			}
			rows, err := s.rows(s.set.Search(s.c.Args().First()))
			if err != nil {
				return err
			}
			return s.writePlugins(rows)
		}),
	}
}

func infoCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "show a plugin's versions, source, artifacts, settings and infrastructure",
		ArgsUsage: "[CATALOG:]KIND/NAME[@VERSION]",
		CustomHelpTemplate: withExamples(
			"micro-new info broker/nats         versions, settings and what it needs",
			"micro-new info broker/nats@0.1.0   one version",
			"micro-new info --json store/redis",
		),
		BashComplete: completePluginNames(e),
		Action: action(e, func(s *session) error {
			if s.c.NArg() != 1 {
				return usage(s.c, "info takes one plugin name, e.g. micro-new info broker/rabbitmq")
			}
			ref, entry, err := s.lookup(s.c.Args().First())
			if err != nil {
				return err
			}
			p := entry.Plugin
			versions := p.Versions
			if ref.Version != "" {
				v, ok := p.FindVersion(ref.Version)
				if !ok {
					return versionError(entry, ref.Version)
				}
				versions = []catalog.Version{*v}
			}
			rows, err := s.rows([]catalog.Entry{entry})
			if err != nil {
				return err
			}
			var pinned *pluginlock.Plugin
			if proj, err := s.project(); err == nil && proj != nil {
				if pin, ok := proj.Get(p.Name); ok {
					pinned = &pin
				}
			}
			if s.json {
				type infoJSON struct {
					pluginJSON
					Details []catalog.Version `json:"details"`
				}
				return s.writeJSON(infoJSON{pluginJSON{Name: p.Name, Kind: p.Kind, Catalog: entry.Catalog.Name, Description: p.Description,
					Homepage: p.Homepage, Latest: p.Latest().Version, Versions: p.VersionList(), Installed: rows[0].installed, Pinned: pinned}, versions})
			}
			s.printf("%s (catalog %s)\n  %s\n", p.Name, entry.Catalog.Name, p.Description)
			if p.Homepage != "" {
				s.printf("  homepage:  %s\n", p.Homepage)
			}
			if inst := rows[0].installed; inst != nil {
				s.printf("  installed: %s at %s (sha256 %s)\n", inst.Version, s.installerPath(p.Name), inst.SHA256[pluginlock.Platform()])
			} else {
				s.printf("  installed: no; install it with: micro-new install %s\n", s.qualified(entry))
			}
			if pinned != nil {
				s.printf("  pinned:    %s by %s\n", pinned.Version, s.projectLock)
			}
			latest := p.Latest().Version
			slices.SortFunc(versions, func(a, b catalog.Version) int { return catalog.CompareVersions(b.Version, a.Version) })
			for _, v := range versions {
				tag := ""
				if v.Version == latest {
					tag = " (latest)"
				}
				s.printf("\nversion %s%s\n", v.Version, tag)
				tw := tabwriter.NewWriter(s.e.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(tw, "  protocols:\t%s\n", strings.Trim(fmt.Sprint(v.Protocols), "[]"))
				if v.Source != nil {
					fmt.Fprintf(tw, "  source:\t%s\n", v.Source.String())
				}
				for _, a := range v.Artifacts {
					fmt.Fprintf(tw, "  artifact:\t%s/%s %s (sha256 %s)\n", a.OS, a.Arch, a.URL, a.SHA256)
				}
				if len(v.Infrastructure) > 0 {
					fmt.Fprintf(tw, "  needs:\t%s\n", strings.Join(v.Infrastructure, "; "))
				}
				tw.Flush()
				if len(v.Settings) == 0 {
					s.printf("  settings:  none\n")
					continue
				}
				s.printf("  settings:\n")
				tw = tabwriter.NewWriter(s.e.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "    NAME\tTYPE\tDEFAULT\tDESCRIPTION")
				for _, st := range v.Settings {
					def := string(st.Default)
					if def == "" {
						def = "-"
					}
					fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", st.Name, st.Type, def, st.Description)
				}
				tw.Flush()
			}
			return nil
		}),
	}
}

func (s *session) installerPath(name string) string {
	return install.New(s.pluginDir).BinaryPath(name)
}

// qualified returns how to name an entry on the command line: qualified only
// when its name is in more than one catalog.
func (s *session) qualified(e catalog.Entry) string {
	if _, err := s.set.Lookup(catalog.Ref{Name: e.Plugin.Name}); err != nil {
		return e.QualifiedName()
	}
	return e.Plugin.Name
}

func versionError(e catalog.Entry, v string) error {
	return fmt.Errorf("plugin %s (catalog %s) has no version %s; it has %s: `micro-new info %s` shows them",
		e.Plugin.Name, e.Catalog.Name, v, strings.Join(e.Plugin.VersionList(), ", "), e.Plugin.Name)
}

func installCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "build or fetch a plugin, verify it and install it into the plugin directory",
		ArgsUsage: "[[CATALOG:]KIND/NAME[@VERSION]]",
		Description: `Installs the plugin's latest version (or @VERSION) into the plugin directory
and records its name, version, source and sha256 in the directory's lock.

The binary is fetched from the catalog's artifact for this platform, whose
sha256 must match, or built from source with the Go toolchain (go build
-trimpath, without cgo: the same source and toolchain give the same sha256).
A plugin of the micro module is built in the checkout around the working
directory, or in $MICRO_SOURCE_DIR. Before it is installed, the binary must
answer the go-plugin handshake with a protocol version micro speaks: it is
started with the handshake environment, its handshake line is read, and it is
killed. Nothing else of it runs. A failed install changes nothing.

Inside a project (a directory with micro.lock, or below one) the project's
lock pins what is installed: a pinned plugin is installed at its pinned
version, a build whose sha256 differs from the pin is refused, and a newly
installed plugin is pinned. With no argument, install installs every plugin
the project pins. --pin starts a project lock in the working directory.

--from installs from a binary or archive FILE, a Go package DIR, or a URL
(with --sha256) instead of the catalog's source. A FILE without --sha256 is
not pinned: micro-new says that it will run it for the handshake check and
asks first on a terminal; elsewhere it needs --yes.

The Go build of a plugin is shown with its elapsed time, a download with a
progress bar (plain lines when standard error is not a terminal). SIGINT
and SIGTERM stop an install and its build, leaving nothing behind.`,
		CustomHelpTemplate: withExamples(
			"micro-new install broker/redis                 the latest version",
			"micro-new install broker/nats@0.1.0            a given version",
			"micro-new install                              what the project's micro.lock pins",
			"micro-new install broker/redis --pin           and pin it in ./micro.lock",
			"micro-new install broker/mine --from ./mine    build a Go package directory",
			"micro-new install broker/mine --from https://example.com/p.tar.gz --sha256 HEX",
			"micro-new install broker/mine --from ./plugin --yes    an unpinned file, without asking",
		),
		BashComplete: completePluginNames(e),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "install from a binary or archive (tar.gz, zip) `FILE|DIR|URL`; a DIR is a Go package to build"},
			&cli.StringFlag{Name: "sha256", Usage: "the sha256 (`HEX`) the artifact of --from must have; required for an http(s) URL"},
			&cli.BoolFlag{Name: "build", Usage: "build from source even when the catalog has an artifact for this platform"},
			&cli.BoolFlag{Name: "pin", Usage: "pin the plugin in ./micro.lock, creating it when no project lock is found"},
			&cli.BoolFlag{Name: "update-lock", Usage: "accept a build whose sha256 differs from the project's pin, and pin it"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "run the handshake check of an unpinned --from FILE without asking"},
		},
		Action: action(e, func(s *session) error {
			switch s.c.NArg() {
			case 0:
				if s.c.String("from") != "" {
					return usage(s.c, "--from needs the plugin's name: micro-new install KIND/NAME --from %s", s.c.String("from"))
				}
				if s.projectLock == "" {
					return usage(s.c, "no plugin named, and no %s in %s or a parent directory: name a plugin (micro-new install broker/rabbitmq), or start a project lock with micro-new install NAME --pin", pluginlock.FileName, s.e.wd)
				}
				return installProject(s)
			case 1:
				return installOne(s, s.c.Args().First())
			}
			return usage(s.c, "install takes one plugin name, or none inside a project")
		}),
	}
}

type installJSON struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Catalog  string `json:"catalog,omitempty"`
	Source   string `json:"source"`
	SHA256   string `json:"sha256"`
	Path     string `json:"path"`
	Protocol int    `json:"protocol,omitempty"`
	Status   string `json:"status"`
	Pinned   string `json:"pinned,omitempty"` // the project lock that pins it
}

func (s *session) report(results []installJSON) error {
	if s.json {
		if results == nil {
			results = []installJSON{}
		}
		return s.writeJSON(results)
	}
	for _, r := range results {
		switch r.Status {
		case "up to date":
			s.printf("%s %s is up to date (sha256 %s)\n", r.Name, r.Version, r.SHA256)
		default:
			s.printf("%s %s %s at %s (sha256 %s)\n", r.Status, r.Name, r.Version, r.Path, r.SHA256)
		}
		if r.Pinned != "" {
			s.printf("  pinned in %s\n", r.Pinned)
		}
	}
	return nil
}

func installOne(s *session, arg string) error {
	in := s.installer()
	from := s.c.String("from")
	project, err := s.project()
	if err != nil {
		return err
	}
	projectPath := s.projectLock
	if project == nil && s.c.Bool("pin") {
		projectPath = pluginlock.FileName
		if s.e.wd != "" {
			projectPath = s.e.wd + "/" + pluginlock.FileName
		}
		project = &pluginlock.File{Format: pluginlock.Format}
	}

	req := install.Request{From: from, FromSHA256: s.c.String("sha256"), Build: s.c.Bool("build"), Confirm: s.confirmRun}
	var entry catalog.Entry
	if from != "" {
		ref, err := catalog.ParseRef(arg)
		if err != nil {
			return err
		}
		if ref.Catalog != "" || ref.Version != "" {
			return usage(s.c, "with --from, name the plugin as KIND/NAME, without catalog or version")
		}
		req.Name = ref.Name
	} else {
		var ref catalog.Ref
		ref, entry, err = s.lookup(arg)
		if err != nil {
			return err
		}
		req.Name, req.Catalog = entry.Plugin.Name, entry.Catalog.Name
		version := ref.Version
		if project != nil && version == "" {
			if pin, ok := project.Get(req.Name); ok {
				version = pin.Version // the project's pin, not the latest
			}
		}
		v, ok := entry.Plugin.FindVersion(version)
		if !ok {
			return versionError(entry, version)
		}
		req.Version = v
	}
	var pin pluginlock.Plugin
	pinned := false
	if project != nil {
		pin, pinned = project.Get(req.Name)
		if pinned && !s.c.Bool("update-lock") && (req.Version == nil || pin.Version == req.Version.Version) {
			req.Want, req.WantOrigin = pin.SHA256[pluginlock.Platform()], projectPath
		}
	}
	res, err := in.Install(s.c.Context, req)
	if err != nil {
		return err
	}
	out := installJSON{Name: res.Plugin.Name, Version: res.Plugin.Version, Catalog: res.Plugin.Catalog, Source: res.Plugin.Source,
		SHA256: res.SHA256, Path: res.Path, Protocol: res.Protocol, Status: "installed"}
	if project != nil && from == "" {
		if err := pinInProject(project, projectPath, pin, pinned, res.Plugin); err != nil {
			return fmt.Errorf("plugin %s is installed, but pinning it in %s failed: %w", req.Name, projectPath, err)
		}
		out.Pinned = projectPath
	}
	return s.report([]installJSON{out})
}

// pinInProject records an installed plugin in the project's lock: a new pin,
// a new version, or this platform's sha256 for the pinned version.
func pinInProject(project *pluginlock.File, path string, old pluginlock.Plugin, had bool, got pluginlock.Plugin) error {
	p := got
	p.SHA256 = map[string]string{}
	p.BLAKE3 = nil // a project pins the sha256 alone
	if had && old.Version == got.Version {
		for k, v := range old.SHA256 {
			p.SHA256[k] = v
		}
	}
	for k, v := range got.SHA256 {
		p.SHA256[k] = v
	}
	project.Put(p)
	return pluginlock.Write(path, project)
}

// installProject installs every plugin the project's lock pins, at its
// version, refusing a build whose sha256 differs from the pin.
func installProject(s *session) error {
	if s.projectLock == "" {
		return fmt.Errorf("no plugin named, and no %s in %s or a parent directory: name a plugin (micro-new install broker/rabbitmq), or start a project lock with micro-new install NAME --pin", pluginlock.FileName, s.e.wd)
	}
	project, err := s.project()
	if err != nil {
		return err
	}
	installed, err := s.installed()
	if err != nil {
		return err
	}
	in := s.installer()
	var results []installJSON
	var failed []string
	for _, pin := range project.Plugins {
		ref := catalog.Ref{Catalog: pin.Catalog, Name: pin.Name}
		entry, err := s.set.Lookup(ref)
		if err != nil {
			var uc *catalog.UnknownCatalogError
			if errors.As(err, &uc) {
				err = fmt.Errorf("plugin %s is pinned from catalog %s by %s, and that catalog is not loaded: add it with --catalog PATH|URL", pin.Name, pin.Catalog, s.projectLock)
			}
			fmt.Fprintf(s.e.stderr, "micro-new: %v\n", err)
			failed = append(failed, pin.Name)
			continue
		}
		v, ok := entry.Plugin.FindVersion(pin.Version)
		if !ok {
			fmt.Fprintf(s.e.stderr, "micro-new: %v\n", fmt.Errorf("%w (it is pinned by %s)", versionError(entry, pin.Version), s.projectLock))
			failed = append(failed, pin.Name)
			continue
		}
		want := pin.SHA256[pluginlock.Platform()]
		if cur, ok := installed.Get(pin.Name); ok && want != "" && cur.Version == pin.Version && cur.SHA256[pluginlock.Platform()] == want {
			if sum, err := pluginlock.HashFile(in.BinaryPath(pin.Name)); err == nil && sum == want {
				results = append(results, installJSON{Name: pin.Name, Version: pin.Version, Catalog: pin.Catalog, Source: cur.Source, SHA256: sum, Path: in.BinaryPath(pin.Name), Status: "up to date"})
				continue
			}
		}
		res, err := in.Install(s.c.Context, install.Request{Name: pin.Name, Catalog: entry.Catalog.Name, Version: v, Build: s.c.Bool("build"), Want: want, WantOrigin: s.projectLock})
		if err != nil {
			fmt.Fprintf(s.e.stderr, "micro-new: %v\n", err)
			failed = append(failed, pin.Name)
			continue
		}
		r := installJSON{Name: pin.Name, Version: pin.Version, Catalog: pin.Catalog, Source: res.Plugin.Source, SHA256: res.SHA256, Path: res.Path, Protocol: res.Protocol, Status: "installed"}
		if want == "" { // first install on this platform: pin its sha256 too
			if err := pinInProject(project, s.projectLock, pin, true, res.Plugin); err != nil {
				return err
			}
			r.Pinned = s.projectLock
		}
		results = append(results, r)
	}
	if err := s.report(results); err != nil {
		return err
	}
	if len(failed) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of the %d plugins pinned by %s failed to install: %s", len(failed), len(project.Plugins), s.projectLock, strings.Join(failed, ", "))}
	}
	return nil
}

func removeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Aliases:   []string{"uninstall", "rm"},
		Usage:     "uninstall a plugin: its binary and its entry in the plugin directory's lock",
		ArgsUsage: "KIND/NAME",
		CustomHelpTemplate: withExamples(
			"micro-new remove broker/nats",
			"micro-new uninstall broker/nats    the same",
			"micro-new rm broker/nats           the same",
		),
		BashComplete: completeInstalled(e),
		Action: action(e, func(s *session) error {
			if s.c.NArg() != 1 {
				return usage(s.c, "remove takes one plugin name, e.g. micro-new remove broker/rabbitmq")
			}
			ref, err := catalog.ParseRef(s.c.Args().First())
			if err != nil {
				return err
			}
			if err := s.installer().Remove(s.c.Context, ref.Name); err != nil {
				return err
			}
			if s.json {
				return s.writeJSON(map[string]any{"name": ref.Name, "removed": true})
			}
			s.printf("removed %s from %s\n", ref.Name, s.pluginDir)
			return nil
		}),
	}
}

func verifyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "re-hash every installed plugin against the lock; exit status 1 on any mismatch",
		Description: `Checks each plugin of the plugin directory's lock as the plugin host does
before every launch, with the host's own rule: the binary is there, is a
regular file that is not writable by group or others, and has the sha256
the lock pins; the binary and every directory above it, up to the root,
are not symbolic links, are owned by you or root, and are not writable by
group or others (unless sticky and owned by root, as /tmp). A plugin the
host would refuse is reported unsafe, with every reason. Inside a
project, an installed plugin must also have the sha256 the project pins.
A binary the lock does not list is reported, as a warning. Staging
directories left by an install that was killed are removed.`,
		CustomHelpTemplate: withExamples(
			"micro-new verify                   exit status 1 when a plugin fails",
			"micro-new verify --json            every check, for scripts",
		),
		Action: action(e, func(s *session) error {
			project, err := s.project()
			if err != nil {
				return err
			}
			checks, err := s.installer().Verify(s.c.Context, project, s.projectLock)
			if err != nil {
				return err
			}
			bad := 0
			for _, c := range checks {
				if !c.OK() {
					bad++
				}
			}
			if s.json {
				if checks == nil {
					checks = []install.Check{}
				}
				if err := s.writeJSON(checks); err != nil {
					return err
				}
			} else if len(checks) == 0 {
				s.printf("no plugins installed in %s\n", s.pluginDir)
			} else {
				tw := tabwriter.NewWriter(s.e.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tSTATUS")
				for _, c := range checks {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Version, c.Status)
				}
				tw.Flush()
			}
			for _, c := range checks {
				if c.Status == install.StatusUntracked {
					fmt.Fprintf(s.e.stderr, "micro-new: warning: %s: %s: %s\n", c.Path, c.Problem, c.Fix)
				}
			}
			if bad == 0 {
				return nil
			}
			var msgs []string
			for _, c := range checks {
				if !c.OK() {
					cat := ""
					if c.Catalog != "" {
						cat = " (catalog " + c.Catalog + ")"
					}
					msgs = append(msgs, fmt.Sprintf("plugin %s%s: %s\n  to fix: %s", c.Name, cat, c.Problem, c.Fix))
				}
			}
			return &exitError{code: 1, msg: fmt.Sprintf("%d of %d installed plugins failed verification in %s:\n%s", bad, len(checks), s.pluginDir, strings.Join(msgs, "\n"))}
		}),
	}
}

type outdatedJSON struct {
	Name      string `json:"name"`
	Catalog   string `json:"catalog"`
	Installed string `json:"installed"`
	Latest    string `json:"latest"`
	entry     catalog.Entry
}

// outdated lists the installed plugins whose catalog has a newer version.
// name, when set, restricts it to one plugin.
func (s *session) outdated(name string) ([]outdatedJSON, error) {
	lock, err := s.installed()
	if err != nil {
		return nil, err
	}
	var out []outdatedJSON
	found := false
	for _, p := range lock.Plugins {
		if name != "" && p.Name != name {
			continue
		}
		found = true
		if p.Catalog == "" {
			continue // installed with --from: no catalog to compare with
		}
		entry, err := s.set.Lookup(catalog.Ref{Catalog: p.Catalog, Name: p.Name})
		if err != nil {
			var uc *catalog.UnknownCatalogError
			if errors.As(err, &uc) {
				return nil, fmt.Errorf("plugin %s was installed from catalog %s, which is not loaded: add it with --catalog PATH|URL", p.Name, p.Catalog)
			}
			return nil, err
		}
		latest := entry.Plugin.Latest().Version
		if catalog.CompareVersions(latest, p.Version) > 0 {
			out = append(out, outdatedJSON{Name: p.Name, Catalog: p.Catalog, Installed: p.Version, Latest: latest, entry: entry})
		}
	}
	if name != "" && !found {
		return nil, fmt.Errorf("plugin %s is not installed in %s: install it with micro-new install %s", name, s.pluginDir, name)
	}
	return out, nil
}

func outdatedCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "outdated",
		Usage: "list the installed plugins that have a newer version in their catalog",
		CustomHelpTemplate: withExamples(
			"micro-new outdated",
			"micro-new outdated --json",
		),
		Action: action(e, func(s *session) error {
			out, err := s.outdated("")
			if err != nil {
				return err
			}
			if s.json {
				if out == nil {
					out = []outdatedJSON{}
				}
				return s.writeJSON(out)
			}
			if len(out) == 0 {
				s.printf("every installed plugin is up to date\n")
				return nil
			}
			tw := tabwriter.NewWriter(s.e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCATALOG\tINSTALLED\tLATEST")
			for _, o := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Name, o.Catalog, o.Installed, o.Latest)
			}
			tw.Flush()
			s.printf("upgrade with: micro-new upgrade [NAME]\n")
			return nil
		}),
	}
}

func upgradeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "upgrade",
		Usage:     "install the latest version of every outdated plugin, or of NAME",
		ArgsUsage: "[KIND/NAME]",
		Description: `Installs the latest version of each installed plugin that has a newer one
in its catalog (see micro-new outdated). Inside a project, the new version
is pinned in the project's lock.`,
		CustomHelpTemplate: withExamples(
			"micro-new upgrade                  every outdated plugin",
			"micro-new upgrade broker/nats      one plugin",
		),
		BashComplete: completeInstalled(e),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "build", Usage: "build from source even when the catalog has an artifact for this platform"},
		},
		Action: action(e, func(s *session) error {
			if s.c.NArg() > 1 {
				return usage(s.c, "upgrade takes at most one plugin name")
			}
			name := ""
			if s.c.NArg() == 1 {
				ref, err := catalog.ParseRef(s.c.Args().First())
				if err != nil {
					return err
				}
				name = ref.Name
			}
			out, err := s.outdated(name)
			if err != nil {
				return err
			}
			project, err := s.project()
			if err != nil {
				return err
			}
			in := s.installer()
			var results []installJSON
			for _, o := range out {
				res, err := in.Install(s.c.Context, install.Request{Name: o.Name, Catalog: o.Catalog, Version: o.entry.Plugin.Latest(), Build: s.c.Bool("build")})
				if err != nil {
					return err
				}
				r := installJSON{Name: o.Name, Version: res.Plugin.Version, Catalog: o.Catalog, Source: res.Plugin.Source, SHA256: res.SHA256, Path: res.Path, Protocol: res.Protocol, Status: "upgraded " + o.Installed + " →"}
				if project != nil {
					if pin, ok := project.Get(o.Name); ok {
						if err := pinInProject(project, s.projectLock, pin, true, res.Plugin); err != nil {
							return err
						}
						r.Pinned = s.projectLock
					}
				}
				if s.json {
					r.Status = "upgraded"
				}
				results = append(results, r)
			}
			if len(results) == 0 && !s.json {
				s.printf("every installed plugin is up to date\n")
				return nil
			}
			return s.report(results)
		}),
	}
}

// confirmRun asks whether to run an unpinned --from file for its handshake
// check: yes with --yes; on a terminal, the user is asked; otherwise it is a
// usage error that says to pass --yes or --sha256.
func (s *session) confirmRun(ctx context.Context, c install.Candidate) (bool, error) {
	if s.c.Bool("yes") {
		return true, nil
	}
	what := fmt.Sprintf("%s is not pinned (no catalog, no --sha256); its sha256 is %s. To check that it is a micro plugin, micro-new runs it once with the go-plugin handshake environment, reads its first line and kills it", c.From, c.SHA256)
	if !s.e.interactive || s.e.stdin == nil {
		return false, &exitError{code: exitUsage, msg: fmt.Sprintf("plugin %s: %s. Not on a terminal, so not asking: pass --yes to run it, or --sha256 %s to pin this file", c.Name, what, c.SHA256)}
	}
	fmt.Fprintf(s.e.stderr, "%s.\nRun it? [y/N] ", what)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(s.e.stdin).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case a := <-answer:
		return a == "y" || a == "yes", nil
	case <-ctx.Done():
		fmt.Fprintln(s.e.stderr)
		return false, ctx.Err()
	}
}
