package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// Resolver turns Components into implementations.
type Resolver struct {
	factories  *Factories
	pluginDir  string
	logger     *slog.Logger
	workDir    string
	pluginOpts []plugin.Option
}

// Option configures a Resolver.
type Option interface{ apply(*Resolver) }

type optionFunc func(*Resolver)

func (f optionFunc) apply(r *Resolver) { f(r) }

// WithFactories sets the implementations compiled into the service
// (default NewFactories()).
func WithFactories(f *Factories) Option { return optionFunc(func(r *Resolver) { r.factories = f }) }

// WithLogger sets the logger of the resolver, of the implementations it
// makes and of the plugins it starts (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(r *Resolver) { r.logger = l }) }

// WithPluginDir sets the directory of installed plugins (default
// plugin.DefaultDir: $MICRO_PLUGIN_DIR, else the user's data directory).
func WithPluginDir(dir string) Option { return optionFunc(func(r *Resolver) { r.pluginDir = dir }) }

// WithWorkDir sets the directory from which the project's lock file is
// searched for, upwards (default the working directory).
func WithWorkDir(dir string) Option { return optionFunc(func(r *Resolver) { r.workDir = dir }) }

// WithPluginOptions adds options to every plugin the resolver starts, such
// as plugin.WithHealthCheck or plugin.WithStartTimeout.
func WithPluginOptions(opts ...plugin.Option) Option {
	return optionFunc(func(r *Resolver) { r.pluginOpts = append(r.pluginOpts, opts...) })
}

// New returns a Resolver.
func New(opts ...Option) *Resolver {
	r := &Resolver{}
	for _, o := range opts {
		if o != nil {
			o.apply(r)
		}
	}
	if r.factories == nil {
		r.factories = NewFactories()
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r
}

// CloseFunc closes a component that the resolver made.
type CloseFunc func(ctx context.Context) error

// Registry returns the registry cfg names: the one compiled in under its
// name (Factories), else the installed plugin registry/<name>, else an
// error (a *NotFoundError) that says how to install it. See Broker.
func (r *Resolver) Registry(ctx context.Context, cfg Config) (registry.Registry, CloseFunc, error) {
	return r.registry(ctx, r.dir(cfg), cfg.Registry)
}

// dir returns the plugin directory for cfg.
func (r *Resolver) dir(cfg Config) string {
	if cfg.PluginDir != "" {
		return cfg.PluginDir
	}
	return r.pluginDir
}

func (r *Resolver) registry(ctx context.Context, pluginDir string, c Component) (registry.Registry, CloseFunc, error) {
	name, err := shortName(plugin.KindRegistry, c.Name, DefaultRegistry)
	if err != nil {
		return nil, nil, err
	}
	if f := r.factories.registry(name); f != nil {
		reg, err := f(ctx, r.params(c, nil))
		if err != nil {
			return nil, nil, fmt.Errorf("registry %s: %w", name, err)
		}
		r.logger.Debug("registry compiled in", "name", name)
		return reg, closer(reg), nil
	}
	pc, err := r.open(ctx, pluginDir, plugin.KindRegistry, name, c)
	if err != nil {
		return nil, nil, err
	}
	return pc.Registry(), closer(pc), nil
}

// Broker returns the broker cfg names, cfg.Broker:
//
//  1. the broker compiled in under its name (Factories), made with its
//     address and settings and with reg, the service's registry; else
//  2. the installed plugin broker/<name>, started from the plugin directory
//     (cfg.PluginDir, else WithPluginDir, else plugin.DefaultDir) through a
//     plugin.Manager, with its settings and its
//     address as the "url" setting; its checksum is the one its directory's
//     lock file pins, looked up before every launch, and when the project
//     has a lock file (micro.lock in the working directory or above) that
//     pins the plugin for this platform, it must pin the same; else
//  3. a *NotFoundError, which says which command installs it.
//
// An empty name is DefaultBroker.
func (r *Resolver) Broker(ctx context.Context, cfg Config, reg registry.Registry) (broker.Broker, CloseFunc, error) {
	return r.broker(ctx, r.dir(cfg), cfg.Broker, reg)
}

func (r *Resolver) broker(ctx context.Context, pluginDir string, c Component, reg registry.Registry) (broker.Broker, CloseFunc, error) {
	name, err := shortName(plugin.KindBroker, c.Name, DefaultBroker)
	if err != nil {
		return nil, nil, err
	}
	if f := r.factories.broker(name); f != nil {
		b, err := f(ctx, r.params(c, reg))
		if err != nil {
			return nil, nil, fmt.Errorf("broker %s: %w", name, err)
		}
		r.logger.Debug("broker compiled in", "name", name)
		return b, closer(b), nil
	}
	pc, err := r.open(ctx, pluginDir, plugin.KindBroker, name, c)
	if err != nil {
		return nil, nil, err
	}
	return pc.Broker(), closer(pc), nil
}

// Store returns the store cfg names, as Broker does for a broker.
func (r *Resolver) Store(ctx context.Context, cfg Config) (store.Store, CloseFunc, error) {
	return r.store(ctx, r.dir(cfg), cfg.Store)
}

func (r *Resolver) store(ctx context.Context, pluginDir string, c Component) (store.Store, CloseFunc, error) {
	name, err := shortName(plugin.KindStore, c.Name, DefaultStore)
	if err != nil {
		return nil, nil, err
	}
	if f := r.factories.store(name); f != nil {
		s, err := f(ctx, r.params(c, nil))
		if err != nil {
			return nil, nil, fmt.Errorf("store %s: %w", name, err)
		}
		r.logger.Debug("store compiled in", "name", name)
		return s, closer(s), nil
	}
	pc, err := r.open(ctx, pluginDir, plugin.KindStore, name, c)
	if err != nil {
		return nil, nil, err
	}
	return pc.Store(), closer(pc), nil
}

func (r *Resolver) params(c Component, reg registry.Registry) Params {
	return Params{Address: c.Address, Settings: c.Settings, Registry: reg, Logger: r.logger}
}

// shortName returns the implementation's name without its kind.
func shortName(kind plugin.Kind, name, def string) (string, error) {
	if name == "" {
		return def, nil
	}
	if k, n, ok := strings.Cut(name, "/"); ok {
		if plugin.Kind(k) != kind {
			return "", fmt.Errorf("%s %q: the name of a %s is <name> or %s/<name>", kind, name, kind, kind)
		}
		name = n
	}
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("%s %q: invalid name: want lower-case letters, digits and dashes", kind, name)
	}
	return name, nil
}

// closer returns the CloseFunc of an implementation.
func closer(v any) CloseFunc {
	return func(ctx context.Context) error {
		switch c := v.(type) {
		case interface{ Close(context.Context) error }:
			return c.Close(ctx)
		case io.Closer:
			return c.Close()
		}
		return nil
	}
}

// NotFoundError says that a component's name is neither compiled into the
// service nor an installed plugin.
type NotFoundError struct {
	Kind       plugin.Kind
	Name       string   // without the kind
	CompiledIn []string // the names compiled in, sorted
	PluginDir  string
	// Reason says what of the plugin is missing: its binary, or its pin
	// in the plugin directory's lock file.
	Reason string
}

func (e *NotFoundError) Error() string {
	full := string(e.Kind) + "/" + e.Name
	return fmt.Sprintf("%s %q is not compiled into this service (compiled in: %s) and is not installed as a plugin (%s): install it with `micro-new install %s`",
		e.Kind, e.Name, strings.Join(e.CompiledIn, ", "), e.Reason, full)
}

// open starts the installed plugin <kind>/<name>.
func (r *Resolver) open(ctx context.Context, pluginDir string, kind plugin.Kind, name string, c Component) (*plugin.Client, error) {
	full := string(kind) + "/" + name
	notFound := func(reason string) error {
		return &NotFoundError{Kind: kind, Name: name, CompiledIn: r.factories.Names(kind), PluginDir: pluginDir, Reason: reason}
	}
	if pluginDir == "" {
		d, err := plugin.DefaultDir()
		if err != nil {
			return nil, notFound(err.Error())
		}
		pluginDir = d
	}
	settings, err := pluginSettings(c)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", full, err)
	}
	projectDir := r.workDir
	if projectDir == "" {
		if projectDir, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("plugin %s: find the project's lock file: %w", full, err)
		}
	}
	m := plugin.NewManager(pluginDir, append([]plugin.Option{
		plugin.WithLogger(r.logger),
		plugin.WithProjectDir(projectDir),
	}, r.pluginOpts...)...)
	pc, err := m.Open(ctx, full, plugin.WithSettings(settings))
	var np *pluginlock.NotPinnedError
	switch {
	case errors.Is(err, plugin.ErrNotInstalled):
		bin, _ := plugin.BinaryName(full)
		return nil, notFound(fmt.Sprintf("no %s in %s", bin, pluginDir))
	case errors.As(err, &np) && np.Platform == "":
		bin, _ := plugin.BinaryName(full)
		return nil, notFound(fmt.Sprintf("%s is in %s, but its lock file does not pin it", bin, pluginDir))
	case errors.Is(err, plugin.ErrChecksumMismatch):
		return nil, fmt.Errorf("%w; the binary changed since it was installed: reinstall it with `micro-new install %s` (and check what changed it)", err, full)
	case err != nil:
		return nil, err
	}
	path, _ := m.Path(full)
	r.logger.Info("plugin started", "plugin", full, "path", path)
	return pc, nil
}

// pluginSettings returns the settings of a plugin: those of c, with its
// address as "url".
func pluginSettings(c Component) ([]byte, error) {
	if err := checkSettings(c.Settings); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if c.Address == "" {
		return c.Settings, nil
	}
	m := map[string]json.RawMessage{}
	if s := bytes.TrimSpace(c.Settings); len(s) > 0 && string(s) != "null" {
		if err := json.Unmarshal(s, &m); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
	}
	addr, _ := json.Marshal(c.Address)
	if u, ok := m["url"]; ok && !bytes.Equal(bytes.TrimSpace(u), addr) {
		return nil, fmt.Errorf("the address %q and the url setting %s disagree: give one", c.Address, u)
	}
	m["url"] = addr
	return json.Marshal(m)
}

// ProjectMismatchError says that the installed plugin is not the one the
// project's lock file pins: the plugin is not started.
type ProjectMismatchError = pluginlock.ProjectMismatchError

// Components are a service's registry, broker and store, as Open made
// them.
type Components struct {
	Registry registry.Registry
	Broker   broker.Broker
	Store    store.Store
	closes   []CloseFunc
}

// Close closes the components, the broker first and the registry last.
func (c *Components) Close(ctx context.Context) error {
	var errs []error
	for i := len(c.closes) - 1; i >= 0; i-- {
		errs = append(errs, c.closes[i](ctx))
	}
	c.closes = nil
	return errors.Join(errs...)
}

// Open makes the registry, broker and store of cfg, in that order (the
// broker may need the registry), as Registry, Broker and Store do; the
// plugin directory is cfg.PluginDir if set. On error it closes what it
// made.
func (r *Resolver) Open(ctx context.Context, cfg Config) (*Components, error) {
	dir := r.dir(cfg)
	comps := &Components{}
	fail := func(err error) (*Components, error) {
		comps.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	reg, closeReg, err := r.registry(ctx, dir, cfg.Registry)
	if err != nil {
		return fail(err)
	}
	comps.Registry, comps.closes = reg, append(comps.closes, closeReg)
	b, closeBroker, err := r.broker(ctx, dir, cfg.Broker, reg)
	if err != nil {
		return fail(err)
	}
	comps.Broker = b
	st, closeStore, err := r.store(ctx, dir, cfg.Store)
	if err != nil {
		comps.closes = append(comps.closes, closeBroker)
		return fail(err)
	}
	comps.Store = st
	comps.closes = append(comps.closes, closeStore, closeBroker)
	return comps, nil
}
