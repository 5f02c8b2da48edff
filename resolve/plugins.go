//go:build !micro_noplugins

package resolve

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/redact"
)

// pluginHost is what the resolver keeps for the plugins it starts.
type pluginHost struct{ opts []plugin.Option }

// PluginsLinked reports whether this binary can start installed plugins:
// true unless it was built with the micro_noplugins tag.
const PluginsLinked = true

// WithPluginOptions adds options to every plugin the resolver starts, such
// as plugin.WithHealthCheck or plugin.WithStartTimeout. It exists only in
// binaries built without the micro_noplugins tag.
func WithPluginOptions(opts ...plugin.Option) Option {
	return optionFunc(func(r *Resolver) { r.host.opts = append(r.host.opts, opts...) })
}

// open starts the installed plugin <kind>/<name> and returns its component
// (a registry.Registry, broker.Broker or store.Store, by kind) and what
// stops it.
func (r *Resolver) open(ctx context.Context, pluginDir string, kind plugin.Kind, name string, settings []byte) (any, CloseFunc, error) {
	full := string(kind) + "/" + name
	if pluginDir == "" {
		d, err := lock.DefaultDir()
		if err != nil {
			return nil, nil, r.notFound(kind, name, pluginDir, err.Error())
		}
		pluginDir = d
	}
	projectDir := r.workDir
	if projectDir == "" {
		var err error
		if projectDir, err = os.Getwd(); err != nil {
			return nil, nil, fmt.Errorf("plugin %s: find the project's lock file: %w", full, err)
		}
	}
	m := plugin.NewManager(pluginDir, append([]plugin.Option{
		plugin.WithLogger(r.logger),
		plugin.WithProjectDir(projectDir),
	}, r.host.opts...)...)
	pc, err := m.Open(ctx, full, plugin.WithSettings(settings))
	var np *lock.NotPinnedError
	switch {
	case errors.Is(err, plugin.ErrNotInstalled):
		bin, _ := plugin.BinaryName(full)
		return nil, nil, r.notFound(kind, name, pluginDir, fmt.Sprintf("no %s in %s", bin, pluginDir))
	case errors.As(err, &np) && np.Platform == "":
		bin, _ := plugin.BinaryName(full)
		return nil, nil, r.notFound(kind, name, pluginDir, fmt.Sprintf("%s is in %s, but its lock file does not pin it", bin, pluginDir))
	case errors.Is(err, plugin.ErrChecksumMismatch):
		return nil, nil, fmt.Errorf("%w; the binary changed since it was installed: reinstall it with `micro-new install %s` (and check what changed it)", err, full)
	case err != nil:
		return nil, nil, hideSecrets(err, "", settings)
	}
	path, _ := m.Path(full)
	r.logger.Info("plugin started", "plugin", full, "path", path, "settings", string(redact.Settings(settings)))
	var comp any
	switch kind {
	case plugin.KindRegistry:
		comp = pc.Registry()
	case plugin.KindBroker:
		comp = pc.Broker()
	default:
		comp = pc.Store()
	}
	return comp, closer(pc), nil
}
