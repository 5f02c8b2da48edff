// Package lock owns what the plugin directory is: where it is
// (DefaultDir, EnvPluginDir), what a plugin is called there ("<kind>/<name>",
// ValidName) and what its binary is called (BinaryName), and micro.lock, the
// file that pins the plugins of a plugin directory or of a project to a
// version, a source and a checksum per platform, with the hashing that
// computes those checksums. Nothing else in the module defines them.
//
// Two files share this format, with one format number:
//
//   - The plugin directory's lock (<plugin dir>/micro.lock), written by
//     `micro-new install`: what is installed there, with the SHA-256 of each
//     binary as it was when installed, and its BLAKE3, which a service checks
//     before each launch because it is several times faster to compute.
//   - A project's lock (micro.lock at the project root, committed, like
//     Terraform's lock file): what the project pins. `micro-new install` with
//     no argument inside the project installs exactly that and refuses a
//     build whose SHA-256 differs from the pin.
//
// The plugin host (core/plugin's Manager) reads the plugin directory's lock
// itself before every launch, and checks the project's lock when told where
// the project is (Check). Every digest is computed from an opened file
// (Sum, Verify), so that what is checked is what is then used:
//
//	l, err := lock.ReadDir(pluginDir)
//	if err != nil { ... }
//	pin, err := l.Digests("broker/rabbitmq") // the pin for this platform
//	if err != nil { ... }                    // names the plugin and the fix
//	f, err := os.Open(binaryPath)            // or the host's checked open
//	if err != nil { ... }
//	defer f.Close()
//	err = lock.Verify("broker/rabbitmq", f, pin.SHA256)
package lock

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"lukechampine.com/blake3"
)

// FileName is the name of a lock file, in a plugin directory and in a project.
const FileName = "micro.lock"

// Format is the version of the lock file format that this package writes,
// for a plugin directory's lock and a project's lock alike, with or without
// BLAKE3 digests. Parse reads it and format 1, written by earlier versions
// (without BLAKE3 digests).
const Format = 2

// formatSHA256 is the earlier format, without BLAKE3 digests.
const formatSHA256 = 1

// File is the content of a lock file. Plugins are kept sorted by name.
type File struct {
	Format  int      `json:"format"`
	Plugins []Plugin `json:"plugins"`
}

// Plugin pins one plugin.
type Plugin struct {
	// Name is the plugin's catalog name, "<kind>/<name>", e.g. "broker/rabbitmq".
	Name string `json:"name"`
	// Version is the catalog version installed or pinned.
	Version string `json:"version"`
	// Catalog names the catalog the plugin came from ("builtin" for the one
	// built into micro-new). Empty when installed with --from.
	Catalog string `json:"catalog,omitempty"`
	// Source says where the binary came from: a Go package path (built from the
	// micro module), "package@version" (built from another module), or the URL
	// or path of an artifact.
	Source string `json:"source"`
	// SHA256 maps a platform ("linux/amd64") to the hex sha256 of the binary for
	// that platform. A plugin directory's lock has one platform; a project's lock
	// gains one per platform its developers install on.
	SHA256 map[string]string `json:"sha256"`
	// BLAKE3 maps a platform to the hex BLAKE3-256 of the binary. Only a
	// plugin directory's lock has it: `micro-new install` records it beside
	// the SHA-256 of the same file, and a service checks it before every
	// launch, as it is several times faster to compute (core/plugin.Pin). A
	// project's lock pins the SHA-256 alone.
	BLAKE3 map[string]string `json:"blake3,omitempty"`
}

// Platform returns this program's platform as the lock file spells it: GOOS/GOARCH.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// BinaryName returns the file name of a plugin's out-of-process binary:
// "broker/rabbitmq" → "micro-plugin-broker-rabbitmq" (with ".exe" on Windows).
func BinaryName(name string) string {
	b := "micro-plugin-" + strings.ReplaceAll(name, "/", "-")
	if runtime.GOOS == "windows" {
		b += ".exe"
	}
	return b
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*/[a-z][a-z0-9-]*$`)
	sumRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	platRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)
)

// ValidName reports whether name has the form "<kind>/<name>".
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Parse decodes a lock file strictly: unknown fields, a format other than
// Format, duplicate names and malformed sums are errors.
func Parse(data []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode: data after the JSON object")
	}
	if f.Format != Format && f.Format != formatSHA256 {
		return nil, fmt.Errorf("format %d: this program reads formats %d and %d", f.Format, formatSHA256, Format)
	}
	seen := make(map[string]bool, len(f.Plugins))
	for _, p := range f.Plugins {
		if !ValidName(p.Name) {
			return nil, fmt.Errorf("plugin name %q: want <kind>/<name>", p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("plugin %s: listed twice", p.Name)
		}
		seen[p.Name] = true
		if p.Version == "" {
			return nil, fmt.Errorf("plugin %s: no version", p.Name)
		}
		for plat, sum := range p.SHA256 {
			if !platRE.MatchString(plat) {
				return nil, fmt.Errorf("plugin %s: platform %q: want GOOS/GOARCH", p.Name, plat)
			}
			if !sumRE.MatchString(sum) {
				return nil, fmt.Errorf("plugin %s: sha256 for %s: want 64 lower-case hex digits", p.Name, plat)
			}
		}
		if len(p.BLAKE3) > 0 && f.Format < Format {
			return nil, fmt.Errorf("plugin %s: blake3 digests need format %d, the file says %d", p.Name, Format, f.Format)
		}
		for plat, sum := range p.BLAKE3 {
			if _, ok := p.SHA256[plat]; !ok {
				return nil, fmt.Errorf("plugin %s: blake3 for %s without a sha256 for it", p.Name, plat)
			}
			if !sumRE.MatchString(sum) {
				return nil, fmt.Errorf("plugin %s: blake3 for %s: want 64 lower-case hex digits", p.Name, plat)
			}
		}
	}
	f.sort()
	return &f, nil
}

// Read reads and parses the lock file at path. A missing file is an error that
// matches fs.ErrNotExist.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return f, nil
}

// ReadDir reads the lock file of a plugin directory. A directory without one
// holds no installed plugin: ReadDir returns an empty File and no error.
func ReadDir(pluginDir string) (*File, error) {
	f, err := Read(filepath.Join(pluginDir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Format: Format}, nil
	}
	return f, err
}

// Marshal encodes f deterministically: plugins sorted by name, keys in a fixed
// order, two-space indentation and a final newline.
func (f *File) Marshal() []byte {
	c := File{Format: Format, Plugins: slices.Clone(f.Plugins)}
	if c.Plugins == nil {
		c.Plugins = []Plugin{}
	}
	c.sort()
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		panic(err) // only strings and maps of strings: cannot fail
	}
	return append(data, '\n')
}

// Write writes f to path atomically: a temporary file in the same directory,
// fsync, rename, then fsync of the directory. The file's mode is 0644.
func Write(path string, f *File) error {
	return WriteFileAtomic(path, f.Marshal(), 0o644)
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory that is synced and renamed over path, so a reader sees the old
// content or the new, never a part. perm is applied exactly (no umask).
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that renames into it are durable. Platforms
// that cannot sync a directory are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}

func (f *File) sort() {
	slices.SortFunc(f.Plugins, func(a, b Plugin) int { return strings.Compare(a.Name, b.Name) })
}

// Get returns the pin of the named plugin.
func (f *File) Get(name string) (Plugin, bool) {
	for _, p := range f.Plugins {
		if p.Name == name {
			return p, true
		}
	}
	return Plugin{}, false
}

// Put adds p, or replaces the plugin of the same name.
func (f *File) Put(p Plugin) {
	if f.Format == 0 {
		f.Format = Format
	}
	for i := range f.Plugins {
		if f.Plugins[i].Name == p.Name {
			f.Plugins[i] = p
			return
		}
	}
	f.Plugins = append(f.Plugins, p)
	f.sort()
}

// Delete removes the named plugin and reports whether it was there.
func (f *File) Delete(name string) bool {
	n := len(f.Plugins)
	f.Plugins = slices.DeleteFunc(f.Plugins, func(p Plugin) bool { return p.Name == name })
	return len(f.Plugins) != n
}

// NotPinnedError says that a lock file does not pin a plugin, or pins no sha256
// for this platform.
type NotPinnedError struct {
	Name     string
	Platform string // set when the plugin is there but has no sum for Platform
}

func (e *NotPinnedError) Error() string {
	if e.Platform != "" {
		return fmt.Sprintf("plugin %s: the lock pins no sha256 for %s: install it with `micro-new install %s`", e.Name, e.Platform, e.Name)
	}
	return fmt.Sprintf("plugin %s is not installed: install it with `micro-new install %s`", e.Name, e.Name)
}

// Checksum returns the sha256 that f pins for the named plugin on this platform.
// The error is a *NotPinnedError when there is none.
func (f *File) Checksum(name string) ([]byte, error) {
	p, ok := f.Get(name)
	if !ok {
		return nil, &NotPinnedError{Name: name}
	}
	s, ok := p.SHA256[Platform()]
	if !ok {
		return nil, &NotPinnedError{Name: name, Platform: Platform()}
	}
	sum, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: sha256: %w", name, err)
	}
	return sum, nil
}

// Pin returns the digests f pins for the named plugin on this platform:
// its sha256, as Checksum does, and its BLAKE3-256 if f records one (nil
// otherwise).
func (f *File) Pin(name string) (sha256, blake3 []byte, err error) {
	if sha256, err = f.Checksum(name); err != nil {
		return nil, nil, err
	}
	p, _ := f.Get(name)
	if s, ok := p.BLAKE3[Platform()]; ok {
		if blake3, err = hex.DecodeString(s); err != nil {
			return nil, nil, fmt.Errorf("plugin %s: blake3: %w", name, err)
		}
	}
	return sha256, blake3, nil
}

// MismatchError says that a plugin binary's sha256 differs from its pin.
type MismatchError struct {
	Name   string
	Path   string
	Want   string // hex
	Got    string // hex
	Reason string // optional: where the pin comes from
}

func (e *MismatchError) Error() string {
	s := fmt.Sprintf("plugin %s: sha256 of %s is %s, but the lock pins %s", e.Name, e.Path, e.Got, e.Want)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s + fmt.Sprintf(": the binary changed after it was installed; reinstall it with `micro-new install %s`", e.Name)
}

// HashFile returns the hex sha256 of the file at path. It is for a file the
// caller made itself (the installer's staged binary); to check a binary
// against a pin, open it and use Verify or Sum, which hash what was opened.
func HashFile(path string) (string, error) {
	sums, err := hashPath(path, sha256.New())
	if err != nil {
		return "", err
	}
	return sums[0], nil
}

// HashFileBoth returns the hex sha256 and the hex BLAKE3-256 of the file at
// path, read once. As HashFile, it is for a file the caller made itself.
func HashFileBoth(path string) (sha256Hex, blake3Hex string, err error) {
	sums, err := hashPath(path, sha256.New(), blake3.New(blake3Size, nil))
	if err != nil {
		return "", "", err
	}
	return sums[0], sums[1], nil
}

func hashPath(path string, hs ...hash.Hash) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := hashReader(io.NewSectionReader(f, 0, 1<<62), hs...)
	if err != nil {
		return nil, err
	}
	sums := make([]string, len(raw))
	for i, b := range raw {
		sums[i] = hex.EncodeToString(b)
	}
	return sums, nil
}

// hashReader reads r once into every one of hs and returns their sums.
func hashReader(r io.Reader, hs ...hash.Hash) ([][]byte, error) {
	w := make([]io.Writer, len(hs))
	for i, h := range hs {
		w[i] = h
	}
	if _, err := io.CopyBuffer(io.MultiWriter(w...), r, make([]byte, 1<<20)); err != nil {
		return nil, err
	}
	sums := make([][]byte, len(hs))
	for i, h := range hs {
		sums[i] = h.Sum(nil)
	}
	return sums, nil
}

// blake3Size is the size of a BLAKE3 digest as the lock records it.
const blake3Size = 32

// Sum returns the digest of the content of the opened file f, read from its
// start whatever its offset: BLAKE3-256 if b3, else SHA-256.
func Sum(f *os.File, b3 bool) ([]byte, error) {
	var h hash.Hash = sha256.New()
	if b3 {
		h = blake3.New(blake3Size, nil)
	}
	sums, err := hashReader(io.NewSectionReader(f, 0, 1<<62), h)
	if err != nil {
		return nil, err
	}
	return sums[0], nil
}

// Verify hashes the opened binary f of the plugin name and returns a
// *MismatchError naming the plugin when its sha256 is not want. It hashes
// what was opened, not a path, so that a caller that goes on to use f uses
// what was checked.
func Verify(name string, f *os.File, want []byte) error {
	got, err := Sum(f, false)
	if err != nil {
		return fmt.Errorf("plugin %s: hash %s: %w", name, f.Name(), err)
	}
	if !bytes.Equal(got, want) {
		return &MismatchError{Name: name, Path: f.Name(), Want: hex.EncodeToString(want), Got: hex.EncodeToString(got)}
	}
	return nil
}

// Pin is what a plugin binary must hash to before it is started: its
// SHA-256, its BLAKE3-256, or both, each 32 bytes. The plugin host computes
// one of them from the opened binary before every launch: BLAKE3 when the
// pin has it, else SHA-256.
//
// SHA-256 is the checksum that catalogs and lock files publish and that
// sha256sum checks. BLAKE3 is an order of magnitude faster on processors
// without SHA instructions (a 31 MiB binary hashes in about 24 ms instead of
// 176 ms on one such core), which is most of a plugin's start-up time:
// `micro-new install` checks the SHA-256 of what it installs against the
// pin and records both digests of that very file in the plugin directory's
// lock, so that a service checks the faster one at every launch.
type Pin struct {
	SHA256 []byte
	BLAKE3 []byte
}

// Check says what is wrong with a pin: no digest, or one of the wrong size.
func (p Pin) Check() error {
	if p.SHA256 == nil && p.BLAKE3 == nil {
		return errors.New("no checksum pinned")
	}
	if p.SHA256 != nil && len(p.SHA256) != sha256.Size {
		return fmt.Errorf("the pinned SHA-256 checksum is %d bytes; want %d", len(p.SHA256), sha256.Size)
	}
	if p.BLAKE3 != nil && len(p.BLAKE3) != blake3Size {
		return fmt.Errorf("the pinned BLAKE3 checksum is %d bytes; want %d", len(p.BLAKE3), blake3Size)
	}
	return nil
}

// Digests returns the Pin that f records for the named plugin on this
// platform: Pin's two digests together.
func (f *File) Digests(name string) (Pin, error) {
	sum, b3, err := f.Pin(name)
	return Pin{SHA256: sum, BLAKE3: b3}, err
}

// ProjectMismatchError says that the installed plugin is not the one the
// project's lock file pins: the plugin is not started.
type ProjectMismatchError struct {
	Name                              string
	ProjectLock                       string
	ProjectVersion, ProjectSHA256     string
	PluginDir                         string
	InstalledVersion, InstalledSHA256 string
}

func (e *ProjectMismatchError) Error() string {
	return fmt.Sprintf("plugin %s: refusing to start it: the project's lock file %s pins version %s with sha256 %s, but the one installed in %s is version %s with sha256 %s; run `micro-new install` in the project to install what it pins",
		e.Name, e.ProjectLock, e.ProjectVersion, e.ProjectSHA256, e.PluginDir, e.InstalledVersion, e.InstalledSHA256)
}

// PinFor returns the Pin that the lock of pluginDir records for the plugin
// name on this platform. When projectDir is not "", the project's lock found
// in it or a parent directory (Find), if any and if it is not the plugin
// directory's own, must pin the same SHA-256 for this platform when it pins
// the plugin at all; otherwise PinFor returns a *ProjectMismatchError. A
// plugin the directory's lock does not pin is a *NotPinnedError.
func PinFor(pluginDir, projectDir, name string) (Pin, error) {
	dirLock, err := ReadDir(pluginDir)
	if err != nil {
		return Pin{}, fmt.Errorf("plugin %s: %w", name, err)
	}
	pin, err := dirLock.Digests(name)
	if err != nil || projectDir == "" {
		return pin, err
	}
	projectLock, err := Find(projectDir)
	if errors.Is(err, fs.ErrNotExist) {
		return pin, nil
	}
	if err != nil {
		return Pin{}, fmt.Errorf("plugin %s: find the project's lock file: %w", name, err)
	}
	if same, _ := sameFile(projectLock, filepath.Join(pluginDir, FileName)); same {
		return pin, nil
	}
	project, err := Read(projectLock)
	if err != nil {
		return Pin{}, fmt.Errorf("plugin %s: the project's lock file: %w", name, err)
	}
	pp, found := project.Get(name)
	if !found {
		return pin, nil
	}
	want, found := pp.SHA256[Platform()]
	if !found {
		return pin, nil
	}
	if got := hex.EncodeToString(pin.SHA256); got != want {
		installed, _ := dirLock.Get(name)
		return Pin{}, &ProjectMismatchError{
			Name: name, ProjectLock: projectLock, ProjectVersion: pp.Version, ProjectSHA256: want,
			PluginDir: pluginDir, InstalledVersion: installed.Version, InstalledSHA256: got,
		}
	}
	return pin, nil
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// Find looks for a project lock file in dir and then in each parent directory,
// and returns the path of the first one found. It returns an error matching
// fs.ErrNotExist when there is none.
func Find(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, FileName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s in %s or a parent directory: %w", FileName, dir, fs.ErrNotExist)
		}
		dir = parent
	}
}

// EnvPluginDir is the environment variable that names the plugin directory.
const EnvPluginDir = "MICRO_PLUGIN_DIR"

// DefaultDir returns the plugin directory: $MICRO_PLUGIN_DIR when set, else
// $XDG_DATA_HOME/micro/plugins, else the platform's user data directory:
// ~/.local/share/micro/plugins on Linux and other Unix systems,
// ~/Library/Application Support/micro/plugins on macOS,
// %LocalAppData%\micro\plugins on Windows.
func DefaultDir() (string, error) { return DirFromEnv(os.Getenv) }

// DirFromEnv is DefaultDir with the environment read through getenv.
func DirFromEnv(getenv func(string) string) (string, error) {
	if d := getenv(EnvPluginDir); d != "" {
		return filepath.Abs(d)
	}
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "micro", "plugins"), nil
	}
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "micro", "plugins"), nil
		}
		return "", errors.New("plugin directory: %LocalAppData% is not set: set " + EnvPluginDir)
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "micro", "plugins"), nil
		}
	default:
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, ".local", "share", "micro", "plugins"), nil
		}
	}
	return "", errors.New("plugin directory: $HOME is not set: set " + EnvPluginDir)
}
