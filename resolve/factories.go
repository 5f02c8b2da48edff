package resolve

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"sync"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/direct"
	brokermemory "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin/spec"
	"github.com/seedmicro/micro/core/redact"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/local"
	registrymemory "github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/store"
	storememory "github.com/seedmicro/micro/core/store/memory"
)

// Params is what a factory gets to make a component.
type Params struct {
	// Address is the Component's address, empty if none was given. It is
	// in Settings too, as "url": a factory that decodes Settings into its
	// plugin's Config has it there, and needs not read this field.
	Address string
	// Settings is the Component's settings, a JSON object or empty, with
	// its address as the "url" setting (URLSetting), as a plugin gets
	// them: decode them strictly, with spec.DecodeSettings, into the same
	// Config the implementation's plugin binary decodes.
	Settings []byte
	// Registry is the service's registry, for a broker that finds its
	// peers through it (as the direct broker does); nil for a registry.
	Registry registry.Registry
	// Logger is the service's logger.
	Logger *slog.Logger
}

// Factories make components; each returns an implementation that the
// resolver's caller closes when done.
type (
	RegistryFactory func(ctx context.Context, p Params) (registry.Registry, error)
	BrokerFactory   func(ctx context.Context, p Params) (broker.Broker, error)
	StoreFactory    func(ctx context.Context, p Params) (store.Store, error)
)

// Factories is the set of implementations compiled into a service, by kind
// and name: what a Component's name resolves to before any plugin. It is
// safe for concurrent use. Registering a name twice for a kind panics.
type Factories struct {
	mu         sync.Mutex
	registries map[string]RegistryFactory
	brokers    map[string]BrokerFactory
	stores     map[string]StoreFactory
}

// NewFactories returns the factories of the core's embedded
// implementations:
//
//	registry  local (files shared by the processes of a machine; the address,
//	          the url setting, is the directory), memory (this process only)
//	broker    direct (delivers over micro's transport to subscribers found in
//	          the registry; the address, the url setting, is the host:port it
//	          listens on; settings max_attempts and max_in_flight), memory
//	          (this process only; settings queue_size and max_deliveries)
//	store     memory
//
// Register more, such as a plugin imported as a Go package, to have them
// compiled in.
func NewFactories() *Factories {
	f := &Factories{
		registries: make(map[string]RegistryFactory),
		brokers:    make(map[string]BrokerFactory),
		stores:     make(map[string]StoreFactory),
	}
	f.RegisterRegistry("local", newLocalRegistry)
	f.RegisterRegistry("memory", newMemoryRegistry)
	f.RegisterBroker("direct", newDirectBroker)
	f.RegisterBroker("memory", newMemoryBroker)
	f.RegisterStore("memory", newMemoryStore)
	return f
}

// nameRE is the form of an implementation's name.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func register[F any](f *Factories, m map[string]F, kind spec.Kind, name string, fn F, isNil bool) {
	if !nameRE.MatchString(name) {
		panic(fmt.Sprintf("resolve: invalid %s name %q: want lower-case letters, digits and dashes", kind, name))
	}
	if isNil {
		panic(fmt.Sprintf("resolve: nil factory for %s %q", kind, name))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("resolve: %s %q registered twice", kind, name))
	}
	m[name] = fn
}

// RegisterRegistry registers fn as the registry name. It panics if name is
// taken or invalid (lower-case letters, digits and dashes).
func (f *Factories) RegisterRegistry(name string, fn RegistryFactory) {
	register(f, f.registries, spec.KindRegistry, name, fn, fn == nil)
}

// RegisterBroker registers fn as the broker name. It panics if name is
// taken or invalid.
func (f *Factories) RegisterBroker(name string, fn BrokerFactory) {
	register(f, f.brokers, spec.KindBroker, name, fn, fn == nil)
}

// RegisterStore registers fn as the store name. It panics if name is taken
// or invalid.
func (f *Factories) RegisterStore(name string, fn StoreFactory) {
	register(f, f.stores, spec.KindStore, name, fn, fn == nil)
}

// Names returns the names registered for kind, sorted.
func (f *Factories) Names(kind spec.Kind) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch kind {
	case spec.KindRegistry:
		return slices.Sorted(maps.Keys(f.registries))
	case spec.KindBroker:
		return slices.Sorted(maps.Keys(f.brokers))
	case spec.KindStore:
		return slices.Sorted(maps.Keys(f.stores))
	}
	return nil
}

func (f *Factories) registry(name string) RegistryFactory {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registries[name]
}

func (f *Factories) broker(name string) BrokerFactory {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.brokers[name]
}

func (f *Factories) store(name string) StoreFactory {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stores[name]
}

// ---------------------------------------------------------------- built in

// noAddress fails when an implementation that takes no address gets one.
func noAddress(kind, name string, p Params) error {
	var cfg struct {
		URL json.RawMessage `json:"url"`
	}
	if json.Unmarshal(p.Settings, &cfg) == nil && len(cfg.URL) > 0 {
		return fmt.Errorf("the %s %s takes no address (got %s): leave the address and the url setting empty", kind, name, redact.Text(string(cfg.URL)))
	}
	return nil
}

func newLocalRegistry(_ context.Context, p Params) (registry.Registry, error) {
	var cfg struct {
		URL string `json:"url"` // the directory
	}
	if err := spec.DecodeSettings(p.Settings, &cfg); err != nil {
		return nil, err
	}
	var opts []local.Option
	if cfg.URL != "" {
		opts = append(opts, local.WithDir(cfg.URL))
	}
	return local.New(opts...)
}

func newMemoryRegistry(_ context.Context, p Params) (registry.Registry, error) {
	if err := noAddress("registry", "memory", p); err != nil {
		return nil, err
	}
	if err := spec.DecodeSettings(p.Settings, &struct{}{}); err != nil {
		return nil, err
	}
	return registrymemory.New(), nil
}

func newDirectBroker(_ context.Context, p Params) (broker.Broker, error) {
	var cfg struct {
		URL         string `json:"url"` // the listen address
		MaxAttempts int    `json:"max_attempts"`
		MaxInFlight int    `json:"max_in_flight"`
	}
	if err := spec.DecodeSettings(p.Settings, &cfg); err != nil {
		return nil, err
	}
	if p.Registry == nil {
		return nil, fmt.Errorf("the direct broker needs a registry")
	}
	opts := []direct.Option{direct.WithLogger(p.Logger)}
	if cfg.URL != "" {
		opts = append(opts, direct.WithAddress(cfg.URL))
	}
	if cfg.MaxAttempts > 0 {
		opts = append(opts, direct.WithMaxAttempts(cfg.MaxAttempts))
	}
	if cfg.MaxInFlight > 0 {
		opts = append(opts, direct.WithMaxInFlight(cfg.MaxInFlight))
	}
	return direct.New(p.Registry, opts...), nil
}

func newMemoryBroker(_ context.Context, p Params) (broker.Broker, error) {
	if err := noAddress("broker", "memory", p); err != nil {
		return nil, err
	}
	var cfg struct {
		QueueSize     int `json:"queue_size"`
		MaxDeliveries int `json:"max_deliveries"`
	}
	if err := spec.DecodeSettings(p.Settings, &cfg); err != nil {
		return nil, err
	}
	var opts []brokermemory.Option
	if cfg.QueueSize > 0 {
		opts = append(opts, brokermemory.WithQueueSize(cfg.QueueSize))
	}
	if cfg.MaxDeliveries != 0 {
		opts = append(opts, brokermemory.WithMaxDeliveries(cfg.MaxDeliveries))
	}
	return brokermemory.New(opts...), nil
}

func newMemoryStore(_ context.Context, p Params) (store.Store, error) {
	if err := noAddress("store", "memory", p); err != nil {
		return nil, err
	}
	if err := spec.DecodeSettings(p.Settings, &struct{}{}); err != nil {
		return nil, err
	}
	return storememory.New(), nil
}

// BrokerFunc adapts the constructor of a plugin package to a
// BrokerFactory: the factory decodes the settings (the address as "url"
// among them) strictly into a C, as the package's plugin binary does with
// plugin.BrokerFunc, and calls f. So the same configuration runs a plugin
// in process or out of process:
//
//	f := resolve.NewFactories()
//	f.RegisterBroker("redis", resolve.BrokerFunc(func(ctx context.Context, cfg *redis.Config) (broker.Broker, error) {
//		return redis.New(ctx, *cfg)
//	}))
func BrokerFunc[C any](f func(ctx context.Context, cfg *C) (broker.Broker, error)) BrokerFactory {
	return decoded(f)
}

// RegistryFunc adapts the constructor of a plugin package to a
// RegistryFactory, as BrokerFunc does for a broker.
func RegistryFunc[C any](f func(ctx context.Context, cfg *C) (registry.Registry, error)) RegistryFactory {
	return decoded(f)
}

// StoreFunc adapts the constructor of a plugin package to a StoreFactory,
// as BrokerFunc does for a broker.
func StoreFunc[C any](f func(ctx context.Context, cfg *C) (store.Store, error)) StoreFactory {
	return decoded(f)
}

// decoded adapts a constructor that takes a config C to a factory: the
// factory decodes the settings strictly into a C and calls f.
func decoded[C, T any](f func(ctx context.Context, cfg *C) (T, error)) func(context.Context, Params) (T, error) {
	return func(ctx context.Context, p Params) (T, error) {
		cfg := new(C)
		if err := spec.DecodeSettings(p.Settings, cfg); err != nil {
			var zero T
			return zero, err
		}
		return f(ctx, cfg)
	}
}
