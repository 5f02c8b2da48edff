package plugin

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/registry"
)

// RegistryClient is the registry.Registry a registry plugin serves. It
// behaves as the implementation behind the plugin does, errors included:
// errors.Is matches registry.ErrNotFound and registry.ErrWatcherStopped, and
// other errors keep their message. An error of the channel itself (the
// plugin process is gone, say) names the plugin, and status.Code gives its
// gRPC code.
type RegistryClient struct {
	c *Client
}

var _ registry.Registry = (*RegistryClient)(nil)

func (r *RegistryClient) err(ctx context.Context, cn *conn, err error) error {
	if r.c.closed.Load() {
		return ErrClosed
	}
	return r.c.callErr(ctx, cn, err, registrySentinels)
}

// Register registers svc for ttl.
func (r *RegistryClient) Register(ctx context.Context, svc *registry.Service, ttl time.Duration) error {
	_, err := unary(ctx, r.c, registrySentinels, func(cn *conn) (*pluginpb.Empty, error) {
		return cn.registry.Register(ctx, &pluginpb.RegisterRequest{Service: serviceToPB(svc), TtlNanos: int64(ttl)})
	})
	return err
}

// Deregister removes the nodes of svc.
func (r *RegistryClient) Deregister(ctx context.Context, svc *registry.Service) error {
	_, err := unary(ctx, r.c, registrySentinels, func(cn *conn) (*pluginpb.Empty, error) {
		return cn.registry.Deregister(ctx, &pluginpb.DeregisterRequest{Service: serviceToPB(svc)})
	})
	return err
}

// Lookup returns the live versions of the named service.
func (r *RegistryClient) Lookup(ctx context.Context, name string) ([]*registry.Service, error) {
	resp, err := unary(ctx, r.c, registrySentinels, func(cn *conn) (*pluginpb.ServicesResponse, error) {
		return cn.registry.Lookup(ctx, &pluginpb.LookupRequest{Name: name})
	})
	if err != nil {
		return nil, err
	}
	return servicesFromPB(resp.Services), nil
}

// List returns every live service.
func (r *RegistryClient) List(ctx context.Context) ([]*registry.Service, error) {
	resp, err := unary(ctx, r.c, registrySentinels, func(cn *conn) (*pluginpb.ServicesResponse, error) {
		return cn.registry.List(ctx, &pluginpb.ListServicesRequest{})
	})
	if err != nil {
		return nil, err
	}
	return servicesFromPB(resp.Services), nil
}

// Watch returns once the plugin's watch is in place: every change made after
// it returns is reported. The watch ends, and Next returns
// registry.ErrWatcherStopped, after Stop, once ctx is done, or once the
// registry is closed. When the plugin ends it on its own, Next returns the
// plugin's error: one that errors.Is matches with ErrWatcherStopped when
// the plugin's watcher was stopped, else the error of the channel.
//
// A watch does not outlive the plugin process: when the process dies, Next
// returns an error that matches ErrRestarting, and the caller watches again
// (Watch fails with the same error until the plugin is back) and, since
// changes made meanwhile were not reported, lists again. A watch is not
// re-established behind the caller's back because the caller could not know
// what it missed.
func (r *RegistryClient) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if r.c.closed.Load() {
		return nil, ErrClosed
	}
	cn, err := r.c.current()
	if err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	sctx, cancel := context.WithCancel(ctx)
	stream, err := cn.registry.Watch(sctx, &pluginpb.WatchRequest{Service: o.Service})
	if err == nil {
		// The first message confirms the watch.
		_, err = stream.Recv()
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.err(ctx, cn, err)
	}
	return &watcher{r: r, cn: cn, ctx: sctx, cancel: cancel, stream: stream}, nil
}

// Close stops the plugin. Watchers end; later calls return ErrClosed.
// Closing again does nothing.
func (r *RegistryClient) Close() error { return r.c.Close() }

// watcher is the host side of a Watch stream.
type watcher struct {
	r      *RegistryClient
	cn     *conn
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // one Next at a time
	stream pluginpb.Registry_WatchClient
	err    error // the error that ended the watch
}

func (w *watcher) Next() (*registry.Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil {
		ev, err := w.stream.Recv()
		if err != nil {
			w.err = w.ended(err) // before cancel, which ended would take for Stop
			w.cancel()
			break
		}
		if ev.Type == pluginpb.EventType_EVENT_TYPE_UNSPECIFIED || ev.Service == nil {
			continue
		}
		return &registry.Event{Type: eventTypeFromPB(ev.Type), Service: serviceFromPB(ev.Service)}, nil
	}
	return nil, w.err
}

// ended returns what Next returns once the stream ended with err.
func (w *watcher) ended(err error) error {
	if w.ctx.Err() != nil || w.r.c.closed.Load() {
		return registry.ErrWatcherStopped
	}
	if errors.Is(err, io.EOF) {
		return registry.ErrWatcherStopped
	}
	return w.r.c.callErr(context.Background(), w.cn, err, registrySentinels)
}

func (w *watcher) Stop() { w.cancel() }
