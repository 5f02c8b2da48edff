package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/seedmicro/micro/core/broker"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/plugin/spec"
	"github.com/seedmicro/micro/core/redact"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// Resolver turns Components into implementations.
type Resolver struct {
	factories *Factories
	pluginDir string
	logger    *slog.Logger
	workDir   string
	host      pluginHost // the plugin options (plugins.go)
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
	return resolveComponent(ctx, r, pluginDir, spec.KindRegistry, DefaultRegistry, c, nil, r.factories.registry)
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
	return resolveComponent(ctx, r, pluginDir, spec.KindBroker, DefaultBroker, c, reg, r.factories.broker)
}

// Store returns the store cfg names, as Broker does for a broker.
func (r *Resolver) Store(ctx context.Context, cfg Config) (store.Store, CloseFunc, error) {
	return r.store(ctx, r.dir(cfg), cfg.Store)
}

func (r *Resolver) store(ctx context.Context, pluginDir string, c Component) (store.Store, CloseFunc, error) {
	return resolveComponent(ctx, r, pluginDir, spec.KindStore, DefaultStore, c, nil, r.factories.store)
}

// resolveComponent makes the component c of kind (an empty name is def):
// compiled in, when factory has a constructor under its name, with its
// address, settings and reg (the service's registry, for a broker); else
// the installed plugin, started from pluginDir.
func resolveComponent[T any, F ~func(context.Context, Params) (T, error)](ctx context.Context, r *Resolver, pluginDir string, kind spec.Kind, def string, c Component, reg registry.Registry, factory func(name string) F) (T, CloseFunc, error) {
	var zero T
	name, err := shortName(kind, c.Name, def)
	if err != nil {
		return zero, nil, err
	}
	settings, err := componentSettings(kind, name, c)
	if err != nil {
		return zero, nil, err
	}
	if f := factory(name); f != nil {
		v, err := f(ctx, r.params(c, settings, reg))
		if err != nil {
			return zero, nil, fmt.Errorf("%s %s: %w", kind, name, hideSecrets(err, c.Address, settings))
		}
		r.logger.Debug(string(kind)+" compiled in", "name", name, "settings", string(redact.Settings(settings)))
		return v, closer(v), nil
	}
	v, closeFn, err := r.open(ctx, pluginDir, kind, name, settings)
	if err != nil {
		return zero, nil, err
	}
	return v.(T), closeFn, nil
}

func (r *Resolver) params(c Component, settings []byte, reg registry.Registry) Params {
	return Params{Address: c.Address, Settings: settings, Registry: reg, Logger: r.logger}
}

// shortName returns the implementation's name without its kind.
func shortName(kind spec.Kind, name, def string) (string, error) {
	if name == "" {
		return def, nil
	}
	if k, n, ok := strings.Cut(name, "/"); ok {
		if spec.Kind(k) != kind {
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
	Kind       spec.Kind
	Name       string   // without the kind
	CompiledIn []string // the names compiled in, sorted
	PluginDir  string
	// Reason says what of the plugin is missing: its binary, or its pin
	// in the plugin directory's lock file.
	Reason string
	// Unknown is true when no plugin of this name is in micro's catalog
	// nor its binary in the plugin directory: most likely a typing slip.
	Unknown bool
	// Suggestion is the known name nearest Name (compiled in, installed or
	// in the catalog), if one is close; empty if none is.
	Suggestion string
	// SuggestionReady is true when Suggestion is compiled in or
	// installed, so needs no install.
	SuggestionReady bool
}

func (e *NotFoundError) Error() string {
	full := string(e.Kind) + "/" + e.Name
	head := fmt.Sprintf("%s %q is not compiled into this service (compiled in: %s) and is not installed as a plugin (%s)",
		e.Kind, e.Name, strings.Join(e.CompiledIn, ", "), e.Reason)
	if !e.Unknown {
		return head + fmt.Sprintf(": install it with `micro-new install %s`", full)
	}
	head += "; micro's catalog has no such plugin either"
	switch {
	case e.Suggestion == "":
		return head + ": `micro-new list` shows the plugins there are"
	case e.SuggestionReady:
		return head + fmt.Sprintf(": did you mean %q?", e.Suggestion)
	}
	return head + fmt.Sprintf(": did you mean %q? (install it with `micro-new install %s/%s`)", e.Suggestion, e.Kind, e.Suggestion)
}

// notFound returns the *NotFoundError of the plugin <kind>/<name>, not in
// pluginDir for reason.
func (r *Resolver) notFound(kind spec.Kind, name, pluginDir, reason string) error {
	e := &NotFoundError{Kind: kind, Name: name, CompiledIn: r.factories.Names(kind), PluginDir: pluginDir, Reason: reason}
	names, installed, inCatalog := r.knownNames(kind, name, pluginDir)
	e.Unknown = !inCatalog && !slices.Contains(names, name)
	if e.Unknown {
		e.Suggestion = nearest(name, names)
		e.SuggestionReady = e.Suggestion != "" && (slices.Contains(e.CompiledIn, e.Suggestion) || slices.Contains(installed, e.Suggestion))
	}
	return e
}

// hideSecrets returns err with the secrets of an address and of settings
// masked in its message: URLs, their passwords, and the values of
// secret-like settings (password, token, ...) at any depth.
func hideSecrets(err error, addr string, settings []byte) error {
	if err == nil {
		return nil
	}
	raws := []string{addr}
	var secrets []string
	var walk func(name string, v any)
	walk = func(name string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(name, e)
			}
		case string:
			if redact.IsSecretName(name) && x != "" {
				secrets = append(secrets, x)
			} else if strings.Contains(x, "://") || strings.Contains(x, "@") {
				raws = append(raws, x)
			}
		}
	}
	var v any
	if json.Unmarshal(settings, &v) == nil {
		walk("", v)
	}
	msg := err.Error()
	for _, sec := range secrets {
		msg = strings.ReplaceAll(msg, sec, redact.Mask)
	}
	if msg == err.Error() {
		return redact.Error(err, raws...)
	}
	return redact.Error(&maskedError{msg: msg, err: err}, raws...)
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// componentSettings returns the settings an implementation gets, compiled
// in or a plugin alike: those of c, with its address as the "url" setting.
// An address and a url setting that disagree are an error, which prints
// both with their secrets masked.
func componentSettings(kind spec.Kind, name string, c Component) ([]byte, error) {
	if err := checkSettings(c.Settings); err != nil {
		return nil, fmt.Errorf("%s %s: settings: %w", kind, name, redact.Error(err, string(c.Settings)))
	}
	if c.Address == "" {
		return c.Settings, nil
	}
	m := map[string]json.RawMessage{}
	if s := bytes.TrimSpace(c.Settings); len(s) > 0 && string(s) != "null" {
		if err := json.Unmarshal(s, &m); err != nil {
			return nil, fmt.Errorf("%s %s: settings: %w", kind, name, redact.Error(err, string(c.Settings)))
		}
	}
	addr, _ := json.Marshal(c.Address)
	if u, ok := m[URLSetting]; ok && !bytes.Equal(bytes.TrimSpace(u), addr) {
		var us string
		if json.Unmarshal(u, &us) != nil {
			us = string(u)
		}
		return nil, fmt.Errorf("%s %s: the address %q and the %s setting %q disagree: give one of them",
			kind, name, redact.URL(c.Address), URLSetting, redact.URL(us))
	}
	m[URLSetting] = addr
	return json.Marshal(m)
}

// ProjectMismatchError says that the installed plugin is not the one the
// project's lock file pins: the plugin is not started.
type ProjectMismatchError = pluginlock.ProjectMismatchError

// Components are a service's registry, broker and store, as Open made
// them or was given them.
type Components struct {
	Registry registry.Registry
	Broker   broker.Broker
	Store    store.Store

	closeOnce sync.Once
	closeErr  error
	closes    []CloseFunc // those Open made, in the order it made them
}

// Close closes the components Open made (not those it was given), the
// store first and the registry last. It is safe to call concurrently and
// more than once: every call returns when the components are closed, with
// the error of the first.
func (c *Components) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		var errs []error
		for i := len(c.closes) - 1; i >= 0; i-- {
			errs = append(errs, c.closes[i](ctx))
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// OpenOption gives Open a component to use as it is instead of making it.
type OpenOption interface{ applyOpen(*Components) }

type openOptionFunc func(*Components)

func (f openOptionFunc) applyOpen(c *Components) { f(c) }

// UseRegistry makes Open use reg as the registry; the caller closes it.
func UseRegistry(reg registry.Registry) OpenOption {
	return openOptionFunc(func(c *Components) { c.Registry = reg })
}

// UseBroker makes Open use b as the broker; the caller closes it.
func UseBroker(b broker.Broker) OpenOption {
	return openOptionFunc(func(c *Components) { c.Broker = b })
}

// UseStore makes Open use s as the store; the caller closes it.
func UseStore(s store.Store) OpenOption {
	return openOptionFunc(func(c *Components) { c.Store = s })
}

// Open assembles a service's components: it makes the registry, broker
// and store of cfg that opts do not give, in that order (a broker may need
// the registry), as Registry, Broker and Store do; the plugin directory is
// cfg.PluginDir if set. It is the one place where components are put
// together (micro.New calls it). On error it closes what it made.
func (r *Resolver) Open(ctx context.Context, cfg Config, opts ...OpenOption) (*Components, error) {
	dir := r.dir(cfg)
	comps := &Components{}
	for _, o := range opts {
		if o != nil {
			o.applyOpen(comps)
		}
	}
	fail := func(err error) (*Components, error) {
		comps.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if comps.Registry == nil {
		reg, closeReg, err := r.registry(ctx, dir, cfg.Registry)
		if err != nil {
			return fail(err)
		}
		comps.Registry, comps.closes = reg, append(comps.closes, closeReg)
	}
	if comps.Broker == nil {
		b, closeBroker, err := r.broker(ctx, dir, cfg.Broker, comps.Registry)
		if err != nil {
			return fail(err)
		}
		comps.Broker, comps.closes = b, append(comps.closes, closeBroker)
	}
	if comps.Store == nil {
		st, closeStore, err := r.store(ctx, dir, cfg.Store)
		if err != nil {
			return fail(err)
		}
		comps.Store, comps.closes = st, append(comps.closes, closeStore)
	}
	return comps, nil
}
