package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/seedmicro/micro/core/plugin/spec"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// ProtocolVersion is the version of the protocol in proto/plugin.proto. A
// host and a plugin agree on it during the go-plugin handshake; a plugin
// built against another version is refused with a message that says so.
// It changes only when a change to the protocol would break a plugin built
// before it.
const ProtocolVersion = 1

// MagicCookieKey and MagicCookieValue are the environment variable a host
// sets for the plugins it launches. A plugin binary started by hand, without
// it, says that it is a plugin and exits. This is a convenience, not a
// security measure.
const (
	MagicCookieKey   = "MICRO_PLUGIN"
	MagicCookieValue = "0d7f3e1a9b5c4e2f8a6d1c3b7e9f0a2d"
)

// Handshake returns the go-plugin handshake shared by micro hosts and
// plugins.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// Kind is the core interface a plugin implements (spec.Kind).
type Kind = spec.Kind

// The kinds of plugin.
const (
	KindBroker   = spec.KindBroker
	KindRegistry = spec.KindRegistry
	KindStore    = spec.KindStore
)

// Kinds returns every kind, sorted.
func Kinds() []Kind { return spec.Kinds() }

// ErrChecksumMismatch is returned by Open when the plugin binary does not
// have the checksum given with WithChecksum. The binary was not started.
var ErrChecksumMismatch = spec.ErrChecksumMismatch

// SettingsError reports plugin settings that a plugin rejected
// (spec.SettingsError): see DecodeSettings.
type SettingsError = spec.SettingsError

// DecodeSettings decodes the JSON settings raw into v strictly
// (spec.DecodeSettings has the rules).
func DecodeSettings(raw []byte, v any) error { return spec.DecodeSettings(raw, v) }

// ErrClosed is returned by the methods of a RegistryClient or StoreClient
// after Close. (A BrokerClient returns broker.ErrClosed, as every broker
// does.)
var ErrClosed = errors.New("plugin: closed")

// Plugin is what a plugin binary serves: one implementation of one core
// interface, or a function that makes one from the plugin's settings. Make
// one with Broker, Registry, Store or their Func forms and hand it to Serve.
// The zero Plugin is not valid.
type Plugin struct {
	kind Kind
	// build makes the implementation from the settings the host sent: a
	// broker.Broker, registry.Registry or store.Store, by kind.
	build func(ctx context.Context, settings []byte) (any, error)
}

// Kind returns the kind of p.
func (p Plugin) Kind() Kind { return p.kind }

// noSettings decodes settings into an empty struct, so that a plugin built
// around a ready instance rejects any setting, naming it.
func noSettings(settings []byte) error {
	return DecodeSettings(settings, &struct{}{})
}

// Broker serves b. The plugin takes no settings: any field in them is an
// error. Use BrokerFunc for a broker configured by its settings.
func Broker(b broker.Broker) Plugin {
	return fixed(KindBroker, b)
}

// Registry serves r. The plugin takes no settings: any field in them is an
// error. Use RegistryFunc for a registry configured by its settings.
func Registry(r registry.Registry) Plugin {
	return fixed(KindRegistry, r)
}

// Store serves s. The plugin takes no settings: any field in them is an
// error. Use StoreFunc for a store configured by its settings.
func Store(s store.Store) Plugin {
	return fixed(KindStore, s)
}

func fixed[T any](kind Kind, impl T) Plugin {
	if any(impl) == nil {
		panic("plugin: nil " + string(kind) + " given to serve")
	}
	return Plugin{kind: kind, build: func(_ context.Context, settings []byte) (any, error) {
		if err := noSettings(settings); err != nil {
			return nil, err
		}
		return impl, nil
	}}
}

// BrokerFunc serves the broker that f makes from the plugin's settings.
//
// When the host configures the plugin, its settings (a JSON document) are
// decoded into a new C with DecodeSettings, strictly: a field that C does not
// have is an error that names it, and f is not called. A C with default
// values in its zero value needs no further work; otherwise f fills them in.
// f may return a *SettingsError to reject a setting; the host sees it as is.
// Any other error fails the host's Open with its message.
//
// ctx bounds the making of the broker and ends when f returns: the broker
// must not keep it.
func BrokerFunc[C any](f func(ctx context.Context, cfg *C) (broker.Broker, error)) Plugin {
	return factory(KindBroker, f)
}

// RegistryFunc serves the registry that f makes from the plugin's settings,
// as BrokerFunc does for a broker.
func RegistryFunc[C any](f func(ctx context.Context, cfg *C) (registry.Registry, error)) Plugin {
	return factory(KindRegistry, f)
}

// StoreFunc serves the store that f makes from the plugin's settings, as
// BrokerFunc does for a broker.
func StoreFunc[C any](f func(ctx context.Context, cfg *C) (store.Store, error)) Plugin {
	return factory(KindStore, f)
}

func factory[C, T any](kind Kind, f func(context.Context, *C) (T, error)) Plugin {
	return Plugin{kind: kind, build: func(ctx context.Context, settings []byte) (any, error) {
		cfg := new(C)
		if err := DecodeSettings(settings, cfg); err != nil {
			return nil, err
		}
		impl, err := f(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if any(impl) == nil {
			return nil, fmt.Errorf("plugin: the %s function returned no %s and no error", kind, kind)
		}
		return impl, nil
	}}
}
