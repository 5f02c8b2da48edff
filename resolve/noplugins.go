//go:build micro_noplugins

package resolve

import (
	"context"
	"fmt"

	"github.com/seedmicro/micro/core/plugin/spec"
)

// pluginHost is empty: this binary was built with the micro_noplugins tag.
type pluginHost struct{}

// PluginsLinked reports whether this binary can start installed plugins:
// false, it was built with the micro_noplugins tag.
const PluginsLinked = false

// open refuses: a binary built with the micro_noplugins tag links no plugin
// host, so only the implementations compiled in can be used.
func (r *Resolver) open(_ context.Context, pluginDir string, kind spec.Kind, name string, _ []byte) (any, CloseFunc, error) {
	return nil, nil, r.notFound(kind, name, pluginDir, fmt.Sprintf("this binary was built with -tags micro_noplugins, which leaves out the plugin host: rebuild it without that tag to use the installed plugin %s/%s", kind, name))
}
