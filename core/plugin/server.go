package plugin

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// server is the plugin side of a plugin: the gRPC services in front of the
// implementation, which exists once the host has called Configure.
type server struct {
	p Plugin

	mu   sync.Mutex // serialises Configure
	impl atomic.Pointer[instance]
	data atomic.Pointer[pluginData] // the data link, once Serve has one
}

// instance is the configured implementation; exactly one field is set.
type instance struct {
	registry registry.Registry
	broker   broker.Broker
	store    store.Store
}

func newServer(p Plugin) *server {
	if !p.kind.Valid() || p.build == nil {
		panic("plugin: a zero Plugin; make one with Broker, Registry, Store or their Func forms")
	}
	return &server{p: p}
}

// register registers the Plugin service and the service of the plugin's
// kind on s.
func (srv *server) register(s *grpc.Server) {
	pluginpb.RegisterPluginServer(s, &controlServer{srv: srv})
	switch srv.p.kind {
	case KindRegistry:
		pluginpb.RegisterRegistryServer(s, &registryServer{srv: srv})
	case KindBroker:
		pluginpb.RegisterBrokerServer(s, &brokerServer{srv: srv})
	case KindStore:
		pluginpb.RegisterStoreServer(s, &storeServer{srv: srv})
	}
}

// shutdownTimeout bounds the closing of the implementation when the plugin
// stops.
const shutdownTimeout = 5 * time.Second

// shutdown closes the implementation, if it has a Close method (with or
// without a context), once the gRPC server has stopped.
func (srv *server) shutdown() {
	inst := srv.impl.Swap(nil)
	if inst == nil {
		return
	}
	var impl any
	switch {
	case inst.registry != nil:
		impl = inst.registry
	case inst.broker != nil:
		impl = inst.broker
	case inst.store != nil:
		impl = inst.store
	}
	switch c := impl.(type) {
	case interface{ Close(context.Context) error }:
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = c.Close(ctx)
	case io.Closer:
		_ = c.Close()
	}
}

// controlServer serves the Plugin service.
type controlServer struct {
	pluginpb.UnimplementedPluginServer
	srv *server
}

func (c *controlServer) Configure(ctx context.Context, req *pluginpb.ConfigureRequest) (*pluginpb.ConfigureResponse, error) {
	srv := c.srv
	kind := srv.p.kind
	if Kind(req.Kind) != kind {
		return nil, status.Errorf(codes.FailedPrecondition, "the binary serves a %s, not a %s", kind, req.Kind)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.impl.Load() != nil {
		return nil, status.Error(codes.Aborted, "plugin: already configured")
	}
	impl, err := srv.p.build(ctx, req.Settings)
	if err != nil {
		var se *SettingsError
		if errors.As(err, &se) {
			return &pluginpb.ConfigureResponse{
				Kind:          string(kind),
				SettingsError: &pluginpb.SettingsError{Field: se.Field, Reason: se.Reason},
			}, nil
		}
		return nil, toStatus(err, nil)
	}
	inst := new(instance)
	switch kind {
	case KindRegistry:
		inst.registry = impl.(registry.Registry)
	case KindBroker:
		inst.broker = impl.(broker.Broker)
	case KindStore:
		inst.store = impl.(store.Store)
	}
	srv.impl.Store(inst)
	return &pluginpb.ConfigureResponse{Kind: string(kind)}, nil
}

// configured returns the implementation srv serves, picked out of its
// instance, or errNotConfigured before the host configured the plugin.
func configured[T any](srv *server, pick func(*instance) T) (T, error) {
	if inst := srv.impl.Load(); inst != nil {
		return pick(inst), nil
	}
	var zero T
	return zero, errNotConfigured
}

// empty is the response of every call that returns only an error. It is
// shared: marshalling does not modify it.
var empty = &pluginpb.Empty{}

// ---------------------------------------------------------------- Registry

type registryServer struct {
	pluginpb.UnimplementedRegistryServer
	srv *server
}

func (s *registryServer) registry() (registry.Registry, error) {
	return configured(s.srv, func(inst *instance) registry.Registry { return inst.registry })
}

func (s *registryServer) Register(ctx context.Context, req *pluginpb.RegisterRequest) (*pluginpb.Empty, error) {
	r, err := s.registry()
	if err != nil {
		return nil, err
	}
	err = r.Register(ctx, serviceFromPB(req.Service), time.Duration(req.TtlNanos))
	return empty, toStatus(err, registrySentinels)
}

func (s *registryServer) Deregister(ctx context.Context, req *pluginpb.DeregisterRequest) (*pluginpb.Empty, error) {
	r, err := s.registry()
	if err != nil {
		return nil, err
	}
	err = r.Deregister(ctx, serviceFromPB(req.Service))
	return empty, toStatus(err, registrySentinels)
}

func (s *registryServer) Lookup(ctx context.Context, req *pluginpb.LookupRequest) (*pluginpb.ServicesResponse, error) {
	r, err := s.registry()
	if err != nil {
		return nil, err
	}
	svcs, err := r.Lookup(ctx, req.Name)
	if err != nil {
		return nil, toStatus(err, registrySentinels)
	}
	return &pluginpb.ServicesResponse{Services: servicesToPB(svcs)}, nil
}

func (s *registryServer) List(ctx context.Context, _ *pluginpb.ListServicesRequest) (*pluginpb.ServicesResponse, error) {
	r, err := s.registry()
	if err != nil {
		return nil, err
	}
	svcs, err := r.List(ctx)
	if err != nil {
		return nil, toStatus(err, registrySentinels)
	}
	return &pluginpb.ServicesResponse{Services: servicesToPB(svcs)}, nil
}

func (s *registryServer) Watch(req *pluginpb.WatchRequest, stream pluginpb.Registry_WatchServer) error {
	r, err := s.registry()
	if err != nil {
		return err
	}
	var opts []registry.WatchOption
	if req.Service != "" {
		opts = append(opts, registry.WatchService(req.Service))
	}
	// The watch lives as long as the call: the host stops it by cancelling.
	ctx := stream.Context()
	w, err := r.Watch(ctx, opts...)
	if err != nil {
		return toStatus(err, registrySentinels)
	}
	defer w.Stop()
	// The first message says the watch is in place.
	if err := stream.Send(&pluginpb.WatchEvent{}); err != nil {
		return err
	}
	for {
		ev, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			if errors.Is(err, registry.ErrWatcherStopped) {
				return status.Error(codes.OutOfRange, err.Error())
			}
			return toStatus(err, registrySentinels)
		}
		if ev == nil {
			continue
		}
		if err := stream.Send(&pluginpb.WatchEvent{Type: eventTypeToPB(ev.Type), Service: serviceToPB(ev.Service)}); err != nil {
			return err
		}
	}
}

// ------------------------------------------------------------------- Store

type storeServer struct {
	pluginpb.UnimplementedStoreServer
	srv *server
}

func (s *storeServer) store() (store.Store, error) {
	return configured(s.srv, func(inst *instance) store.Store { return inst.store })
}

func (s *storeServer) Read(ctx context.Context, req *pluginpb.ReadRequest) (*pluginpb.ReadResponse, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	rec, err := st.Read(ctx, req.Key)
	if err != nil {
		return nil, toStatus(err, storeSentinels)
	}
	if rec == nil {
		return nil, toStatus(store.ErrNotFound, storeSentinels)
	}
	return &pluginpb.ReadResponse{Value: rec.Value, TtlNanos: int64(rec.TTL)}, nil
}

func (s *storeServer) Write(ctx context.Context, req *pluginpb.WriteRequest) (*pluginpb.Empty, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	var rec *store.Record
	if r := req.Record; r != nil {
		rec = &store.Record{Key: r.Key, Value: r.Value, TTL: time.Duration(r.TtlNanos)}
	}
	return empty, toStatus(st.Write(ctx, rec), storeSentinels)
}

func (s *storeServer) Delete(ctx context.Context, req *pluginpb.DeleteRequest) (*pluginpb.Empty, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	return empty, toStatus(st.Delete(ctx, req.Key), storeSentinels)
}

func (s *storeServer) List(ctx context.Context, req *pluginpb.ListKeysRequest) (*pluginpb.ListKeysResponse, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	keys, err := st.List(ctx, req.Prefix)
	if err != nil {
		return nil, toStatus(err, storeSentinels)
	}
	return &pluginpb.ListKeysResponse{Keys: keys}, nil
}
