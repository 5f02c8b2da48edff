// Package install installs, removes and verifies out-of-process plugins in a
// plugin directory, and records them in its lock file (pluginlock).
//
// An install builds the plugin from source with the Go toolchain or fetches a
// prebuilt artifact (whose sha256 must match the catalog), checks that the
// binary answers the go-plugin handshake with a protocol version it may speak,
// and only then moves it into place and records it; nothing else of the plugin
// runs. Every step works in a staging directory inside the plugin directory,
// so a failed install leaves the installed set exactly as it was.
//
// The handshake check runs a candidate only when its sha256 is pinned (by the
// catalog, Request.FromSHA256 or a project's lock) or when Request.Confirm
// agrees. A go build runs in its own process group, killed as a group when
// the context ends. Staging directories carry their owner's process ID; an
// install, a removal and Verify remove those whose owner is gone. Downloads
// apply Timeouts (connect, response headers, stalled body) and name the URL
// when one runs out.
package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/internal/archive"
	"github.com/seedmicro/micro/internal/catalog"
)

// MicroModule is the module path of micro: catalog sources without a module
// are packages of it.
const MicroModule = "github.com/seedmicro/micro"

// Installer manages one plugin directory.
type Installer struct {
	dir              string
	goCmd            string
	sourceDir        string
	moduleVersion    string
	client           *http.Client
	progress         Progress
	limits           archive.Limits
	handshake        Handshake
	handshakeTimeout time.Duration
	env              []string
	platform         string
	timeouts         Timeouts
	lockWait         func(pid int)
	noSource         error
}

// Handshake is the go-plugin handshake a plugin must answer: the magic cookie
// the host sets, and the app protocol versions the host speaks.
type Handshake struct {
	CookieKey   string
	CookieValue string
	Protocols   []int
}

// Option configures an Installer.
type Option interface{ apply(*Installer) }

type optionFunc func(*Installer)

func (f optionFunc) apply(in *Installer) { f(in) }

// WithGo sets the go command that builds plugins from source (default "go"
// from $PATH).
func WithGo(path string) Option { return optionFunc(func(in *Installer) { in.goCmd = path }) }

// WithSourceDir sets the root of a checkout of the micro module: plugins whose
// source is a package of micro are built there with `go build`.
func WithSourceDir(dir string) Option {
	return optionFunc(func(in *Installer) { in.sourceDir = dir })
}

// WithModuleVersion sets the version of the micro module to build its plugin
// packages at, with `go install package@version`, when there is no source
// directory (a released micro-new passes its own version).
func WithModuleVersion(v string) Option {
	return optionFunc(func(in *Installer) { in.moduleVersion = v })
}

// WithTimeouts sets the network timeouts of downloads (default
// DefaultTimeouts): the client's own timeouts, which NewHTTPClient sets from
// the same values, and the stall timeout of a download's body, which the
// installer applies.
func WithTimeouts(t Timeouts) Option { return optionFunc(func(in *Installer) { in.timeouts = t }) }

// WithNoSource sets the error to give when a plugin of the micro module is
// to be built and there is neither a source directory nor a module version:
// it should say what to run.
func WithNoSource(err error) Option { return optionFunc(func(in *Installer) { in.noSource = err }) }

// WithLockWait sets what is called, with the holder's process ID (0 when
// unknown), when the plugin directory is locked by another install and this
// one waits for it.
func WithLockWait(f func(pid int)) Option { return optionFunc(func(in *Installer) { in.lockWait = f }) }

// WithHTTPClient sets the client that fetches artifacts.
func WithHTTPClient(c *http.Client) Option { return optionFunc(func(in *Installer) { in.client = c }) }

// WithProgress sets where progress is reported (default: nowhere).
func WithProgress(p Progress) Option { return optionFunc(func(in *Installer) { in.progress = p }) }

// WithLimits caps archives (default archive.DefaultLimits); MaxTotalSize also
// caps a download.
func WithLimits(l archive.Limits) Option { return optionFunc(func(in *Installer) { in.limits = l }) }

// WithHandshake sets the handshake plugins must answer.
func WithHandshake(h Handshake) Option { return optionFunc(func(in *Installer) { in.handshake = h }) }

// WithHandshakeTimeout bounds the wait for a plugin's handshake (default 30s).
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(in *Installer) { in.handshakeTimeout = d })
}

// WithEnv sets the environment of the go commands (default os.Environ()).
func WithEnv(env []string) Option { return optionFunc(func(in *Installer) { in.env = env }) }

// New returns an Installer for the plugin directory dir.
func New(dir string, opts ...Option) *Installer {
	in := &Installer{
		dir:              dir,
		goCmd:            "go",
		timeouts:         DefaultTimeouts(),
		progress:         NoProgress(),
		limits:           archive.DefaultLimits(),
		handshakeTimeout: 30 * time.Second,
		platform:         pluginlock.Platform(),
	}
	for _, o := range opts {
		o.apply(in)
	}
	if in.env == nil {
		in.env = os.Environ()
	}
	if in.client == nil {
		in.client = NewHTTPClient(in.timeouts)
	}
	return in
}

// Dir returns the plugin directory.
func (in *Installer) Dir() string { return in.dir }

// BinaryPath returns where the named plugin's binary is installed.
func (in *Installer) BinaryPath(name string) string {
	return filepath.Join(in.dir, pluginlock.BinaryName(name))
}

// Installed returns the plugin directory's lock: what is installed.
func (in *Installer) Installed() (*pluginlock.File, error) {
	return pluginlock.ReadDir(in.dir)
}

// Request says what to install.
type Request struct {
	// Name is the plugin's name, "<kind>/<name>".
	Name string
	// Catalog is the name of the catalog the plugin comes from; empty with From.
	Catalog string
	// Version is the catalog version to install; nil with From.
	Version *catalog.Version
	// From, when set, is a binary or archive file, a Go package directory, or
	// an http(s) or file URL of a binary or archive, used instead of the
	// catalog's source and artifacts.
	From string
	// FromSHA256 is the sha256 that a From URL must have; required for http(s).
	FromSHA256 string
	// Build builds from source even when an artifact exists for this platform.
	Build bool
	// Want, when set, is the hex sha256 the installed binary must have (a
	// project's pin): a build or artifact with another is refused.
	Want string
	// WantOrigin says where Want comes from, for messages (a lock file path).
	WantOrigin string
	// Confirm is asked before an unpinned candidate runs for its handshake
	// check: a From file (or file URL) with neither FromSHA256 nor Want. It
	// returns whether to run it, or an error to stop with. Nil refuses to
	// run an unpinned file, with ErrUnpinned.
	Confirm func(ctx context.Context, c Candidate) (bool, error)
}

// Candidate is an unpinned binary about to run for its handshake check.
type Candidate struct {
	Name   string // the plugin's name
	From   string // what the user gave
	SHA256 string // the binary's sha256
}

// ErrUnpinned refuses to run an unpinned --from file without consent.
var ErrUnpinned = errors.New("the file is not pinned by a catalog or a sha256, and checking it means running it")

// ErrDeclined says that the user declined to run an unpinned file.
var ErrDeclined = errors.New("not installed: running the unpinned file was declined")

// unpinned reports whether the candidate of req is a file the user pointed
// at whose sha256 nothing pins: a catalog artifact is pinned by the
// catalog, a build from source is made here, and a Go package directory is
// the user's own source.
func (r *Request) unpinned() bool {
	if r.From == "" || r.FromSHA256 != "" || r.Want != "" {
		return false
	}
	if looksLikeURL(r.From) {
		return true // file:// (an http(s) URL needs its sha256)
	}
	fi, err := os.Stat(r.From)
	return err != nil || !fi.IsDir()
}

func (r *Request) label() string {
	if r.Catalog != "" {
		return fmt.Sprintf("%s (catalog %s)", r.Name, r.Catalog)
	}
	return r.Name
}

// Error is an install error. It names the plugin, the catalog and what went
// wrong; Fix is the command that fixes it, when one does.
type Error struct {
	Plugin  string
	Catalog string
	Op      string
	Err     error
	Fix     string
}

func (e *Error) Error() string {
	s := "plugin " + e.Plugin
	if e.Catalog != "" {
		s += " (catalog " + e.Catalog + ")"
	}
	s += ": " + e.Op
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		s += "\n  to fix: " + e.Fix
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// PinMismatchError says that a build or artifact differs from a project's pin.
type PinMismatchError struct {
	Name, Version, Platform, Want, Got, Origin string
}

func (e *PinMismatchError) Error() string {
	return fmt.Sprintf("sha256 %s differs from %s, which %s pins for %s %s on %s; nothing was installed (a build from source differs when the Go toolchain does)",
		e.Got, e.Want, e.Origin, e.Name, e.Version, e.Platform)
}

// Result is what an install did.
type Result struct {
	Plugin   pluginlock.Plugin // as recorded in the plugin directory's lock
	Path     string            // the installed binary
	SHA256   string
	Protocol int // the protocol version negotiated in the handshake
}

// Install builds or fetches a plugin, checks it, and installs it. On error the
// plugin directory is as it was.
func (in *Installer) Install(ctx context.Context, req Request) (_ *Result, err error) {
	if !pluginlock.ValidName(req.Name) {
		return nil, fmt.Errorf("plugin %q: want <kind>/<name>", req.Name)
	}
	if req.Version == nil && req.From == "" {
		return nil, &Error{Plugin: req.Name, Catalog: req.Catalog, Op: "install", Err: errors.New("no version and no --from")}
	}
	wrap := func(op string, err error, fix string) error {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		return &Error{Plugin: req.Name, Catalog: req.Catalog, Op: op, Err: err, Fix: fix}
	}
	defer func() { in.progress.End(req.Name, err) }()

	if err := in.prepareDir(); err != nil {
		return nil, wrap("plugin directory", err, "")
	}
	unlock, err := lockDir(ctx, in.dir, in.lockWait)
	if err != nil {
		return nil, wrap("lock the plugin directory", err, "")
	}
	defer unlock()
	sweepStaging(in.dir)

	staging, err := newStaging(in.dir)
	if err != nil {
		return nil, wrap("staging directory", err, "")
	}
	defer os.RemoveAll(staging)

	protocols := in.handshake.Protocols
	version := ""
	if req.Version != nil {
		version = req.Version.Version
		protocols = intersect(protocols, req.Version.Protocols)
		if len(protocols) == 0 {
			return nil, wrap("protocol", fmt.Errorf("version %s speaks plugin protocol %v; this micro-new speaks %v", version, req.Version.Protocols, in.handshake.Protocols),
				fmt.Sprintf("install a version that speaks %v (`micro-new info %s` lists them), or upgrade micro-new", in.handshake.Protocols, req.Name))
		}
	}

	bin, source, err := in.produce(ctx, &req, staging)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return nil, wrap("chmod", err, "")
	}
	if err := syncFile(bin); err != nil {
		return nil, wrap("sync", err, "")
	}
	// Both digests of the same bytes: the sha256 is the pin, checked here;
	// the BLAKE3 is what a service checks before each launch.
	sum, b3, err := pluginlock.HashFileBoth(bin)
	if err != nil {
		return nil, wrap("hash", err, "")
	}
	if req.Want != "" && sum != req.Want {
		ref := req.Name
		if version != "" {
			ref += "@" + version
		}
		return nil, &Error{Plugin: req.Name, Catalog: req.Catalog, Op: "verify against the project lock",
			Err: &PinMismatchError{Name: req.Name, Version: version, Platform: in.platform, Want: req.Want, Got: sum, Origin: req.WantOrigin},
			Fix: fmt.Sprintf("build with the toolchain the pin was made with, or accept this build: `micro-new install %s --update-lock`", ref)}
	}

	if req.unpinned() {
		if req.Confirm == nil {
			return nil, wrap("handshake check", ErrUnpinned, fmt.Sprintf("pin the file with --sha256 %s, or agree to run it", sum))
		}
		in.progress.End(req.Name, nil) // a question is asked: no progress line over it
		ok, err := req.Confirm(ctx, Candidate{Name: req.Name, From: req.From, SHA256: sum})
		if err != nil {
			return nil, wrap("handshake check", err, "")
		}
		if !ok {
			return nil, wrap("handshake check", ErrDeclined, "")
		}
	}
	in.progress.Begin(req.Name, "checking the go-plugin handshake")
	proto, err := in.checkHandshake(ctx, bin, protocols)
	if err != nil {
		return nil, wrap("handshake", err, "")
	}

	entry := pluginlock.Plugin{Name: req.Name, Version: version, Catalog: req.Catalog, Source: source,
		SHA256: map[string]string{in.platform: sum}, BLAKE3: map[string]string{in.platform: b3}}
	if entry.Version == "" {
		entry.Version = "local"
	}
	in.progress.Begin(req.Name, "installing")
	final := in.BinaryPath(req.Name)
	if err := in.commit(staging, bin, final, func(l *pluginlock.File) { l.Put(entry) }); err != nil {
		return nil, wrap("install", err, "")
	}
	return &Result{Plugin: entry, Path: final, SHA256: sum, Protocol: proto}, nil
}

// commit moves bin (or, when bin is empty, nothing) over final and rewrites
// the lock with edit. If the lock cannot be written, the old binary is put
// back.
func (in *Installer) commit(staging, bin, final string, edit func(*pluginlock.File)) error {
	lock, err := in.Installed()
	if err != nil {
		return err
	}
	edit(lock)
	backup := filepath.Join(staging, "previous")
	hadOld := false
	if _, err := os.Lstat(final); err == nil {
		if err := os.Link(final, backup); err != nil {
			if err := copyFile(final, backup); err != nil {
				return fmt.Errorf("keep the previous binary: %w", err)
			}
		}
		hadOld = true
	}
	if bin != "" {
		err = os.Rename(bin, final)
	} else if hadOld {
		err = os.Remove(final)
	}
	if err != nil {
		return err
	}
	if err := pluginlock.Write(filepath.Join(in.dir, pluginlock.FileName), lock); err != nil {
		if hadOld {
			os.Rename(backup, final)
		} else {
			os.Remove(final)
		}
		return err
	}
	return pluginlock.SyncDir(in.dir)
}

// prepareDir creates the plugin directory, and refuses one that the plugin
// host would refuse: a symbolic link, or writable by group or others.
func (in *Installer) prepareDir() error {
	if err := os.MkdirAll(in.dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(in.dir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link, which the plugin host refuses: use the directory it points to", in.dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", in.dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others: run `chmod go-w %s`", in.dir, in.dir)
	}
	return nil
}

func intersect(a, b []int) []int {
	var out []int
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func looksLikeURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "file://")
}
