package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
)

// EnvPluginDir is the environment variable that names the plugin
// directory.
const EnvPluginDir = "MICRO_PLUGIN_DIR"

// DefaultDir returns the plugin directory: $MICRO_PLUGIN_DIR when set (made
// absolute), else $XDG_DATA_HOME/micro/plugins, else the platform's user
// data directory: ~/.local/share/micro/plugins on Linux and other Unix
// systems, ~/Library/Application Support/micro/plugins on macOS,
// %LocalAppData%\\micro\\plugins on Windows. It is the directory `micro-new
// install` installs into (the rule is pluginlock.DefaultDir's, which core
// does not import).
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvPluginDir); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "micro", "plugins"), nil
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "micro", "plugins"), nil
		}
		return "", errors.New("plugin directory: %LocalAppData% is not set: set " + EnvPluginDir)
	case "darwin", "ios":
		if h := os.Getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "micro", "plugins"), nil
		}
	default:
		if h := os.Getenv("HOME"); h != "" {
			return filepath.Join(h, ".local", "share", "micro", "plugins"), nil
		}
	}
	return "", errors.New("plugin directory: $HOME is not set: set " + EnvPluginDir)
}

// ErrNotInstalled is matched (errors.Is) by the error of Manager.Open when
// the plugin's binary is not in the plugin directory. It matches
// fs.ErrNotExist too.
var ErrNotInstalled = errors.New("plugin: not installed")

// nameRE is the form of a plugin name, as the catalog and the lock file
// have it.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*/[a-z][a-z0-9-]*$`)

// BinaryName returns the file name of the binary of the plugin name,
// "<kind>/<name>": micro-plugin-<kind>-<name>, with ".exe" on Windows. It
// returns an error if name is not of that form or its kind is unknown.
func BinaryName(name string) (string, error) {
	kind, _, _ := strings.Cut(name, "/")
	if !nameRE.MatchString(name) || !Kind(kind).valid() {
		return "", fmt.Errorf("plugin: invalid plugin name %q: want <kind>/<name>, such as broker/rabbitmq, of kind broker, registry or store", name)
	}
	b := "micro-plugin-" + strings.ReplaceAll(name, "/", "-")
	if runtime.GOOS == "windows" {
		b += ".exe"
	}
	return b, nil
}

// Manager opens plugins by name from a plugin directory, where `micro-new
// install` puts them: the plugin broker/rabbitmq is the binary
// micro-plugin-broker-rabbitmq there. It starts only binaries whose checksum
// it can verify: give it WithChecksumFunc, which it calls with the plugin's
// name before every launch, restarts included (or WithChecksum in
// Manager.Open). Close closes every plugin it opened that is still open.
type Manager struct {
	dir    string
	dirErr error
	opts   []Option

	mu      sync.Mutex
	clients map[*Client]struct{}
	closed  bool
}

// NewManager returns a Manager of the plugin directory dir; "" means
// DefaultDir. opts apply to every plugin it opens, before the options given
// to Open.
func NewManager(dir string, opts ...Option) *Manager {
	m := &Manager{dir: dir, opts: opts, clients: make(map[*Client]struct{})}
	if dir == "" {
		m.dir, m.dirErr = DefaultDir()
	} else if abs, err := filepath.Abs(dir); err == nil {
		m.dir = abs
	}
	return m
}

// Dir returns the plugin directory, "" if DefaultDir failed.
func (m *Manager) Dir() string { return m.dir }

// Path returns the path of the binary of the plugin name, "<kind>/<name>".
func (m *Manager) Path(name string) (string, error) {
	if m.dirErr != nil {
		return "", m.dirErr
	}
	bin, err := BinaryName(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(m.dir, bin), nil
}

// Open starts the plugin name, "<kind>/<name>", from the plugin directory,
// as Open does with its binary's path, the kind of name and the option
// WithName(name). It refuses to start a binary without a checksum to
// verify it against. A binary that is not there fails Open with an error
// that matches ErrNotInstalled.
func (m *Manager) Open(ctx context.Context, name string, opts ...Option) (*Client, error) {
	path, err := m.Path(name)
	if err != nil {
		return nil, err
	}
	kind, _, _ := strings.Cut(name, "/")
	all := make([]Option, 0, len(m.opts)+len(opts)+1)
	all = append(append(append(all, m.opts...), WithName(name)), opts...)
	o := newOptions(all)
	if o.pin == nil && o.pinFunc == nil {
		return nil, fmt.Errorf("plugin %s: no checksum to verify %s against: a Manager starts only pinned binaries (WithPinFunc, WithChecksumFunc)", name, path)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, &wrapError{
			msg: fmt.Sprintf("plugin %s is not installed: no %s in %s", name, filepath.Base(path), m.dir),
			err: notInstalled{},
		}
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("plugin %s: the manager is closed", name)
	}
	c, err := Open(ctx, path, Kind(kind), all...)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.Close()
		return nil, fmt.Errorf("plugin %s: the manager is closed", name)
	}
	m.clients[c] = struct{}{}
	c.onClose = func() {
		m.mu.Lock()
		delete(m.clients, c)
		m.mu.Unlock()
	}
	m.mu.Unlock()
	return c, nil
}

// notInstalled matches ErrNotInstalled and fs.ErrNotExist.
type notInstalled struct{}

func (notInstalled) Error() string { return ErrNotInstalled.Error() }

func (notInstalled) Is(target error) bool {
	return target == ErrNotInstalled || target == fs.ErrNotExist
}

// Close closes every plugin the Manager opened that is still open, and
// makes Open fail from then on.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	clients := make([]*Client, 0, len(m.clients))
	for c := range m.clients {
		clients = append(clients, c)
	}
	m.mu.Unlock()
	var errs []error
	for _, c := range clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
