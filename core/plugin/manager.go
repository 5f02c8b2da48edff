package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/plugin/spec"
)

// EnvPluginDir is the environment variable that names the plugin
// directory (lock.EnvPluginDir).
const EnvPluginDir = lock.EnvPluginDir

// DefaultDir returns the plugin directory, the one `micro-new install`
// installs into: $MICRO_PLUGIN_DIR when set (made absolute), else the
// user's data directory (lock.DefaultDir has the rule).
func DefaultDir() (string, error) { return lock.DefaultDir() }

// ErrNotInstalled is matched (errors.Is) by the error of Manager.Open when
// the plugin's binary is not in the plugin directory. It matches
// fs.ErrNotExist too.
var ErrNotInstalled = spec.ErrNotInstalled

// BinaryName returns the file name of the binary of the plugin name,
// "<kind>/<name>": micro-plugin-<kind>-<name>, with ".exe" on Windows. It
// returns an error if name is not of that form or its kind is unknown.
func BinaryName(name string) (string, error) { return spec.BinaryName(name) }

// Manager opens plugins by name from a plugin directory, where `micro-new
// install` puts them: the plugin broker/rabbitmq is the binary
// micro-plugin-broker-rabbitmq there. It starts only binaries whose checksum
// it can verify: before every launch, restarts included, it reads the pin
// from the directory's lock file (micro.lock, package lock), and with
// WithProjectDir checks it against the project's lock; WithChecksum,
// WithPin, WithChecksumFunc or WithPinFunc replace that look-up. Close
// closes every plugin it opened that is still open.
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
		dir, project := m.dir, o.projectDir
		all = append(all, WithPinFunc(func(_ context.Context, name string) (Pin, error) {
			p, err := lock.PinFor(dir, project, name)
			var np *lock.NotPinnedError
			if errors.As(err, &np) && np.Platform == "" {
				return Pin{}, &wrapError{
					msg: fmt.Sprintf("plugin %s: no checksum to verify %s against: the lock file of %s does not pin it; install it with `micro-new install %s`", name, path, dir, name),
					err: err,
				}
			}
			return p, err
		}))
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
