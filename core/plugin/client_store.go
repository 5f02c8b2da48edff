package plugin

import (
	"context"
	"time"

	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/store"
)

// StoreClient is the store.Store a store plugin serves. It behaves as the
// implementation behind the plugin does, errors included: errors.Is matches
// store.ErrNotFound, and other errors keep their message. An error of the
// channel itself (the plugin process is gone, say) names the plugin, and
// status.Code gives its gRPC code.
type StoreClient struct {
	c *Client
}

var _ store.Store = (*StoreClient)(nil)

// Read returns the record of key, or an error matching store.ErrNotFound.
// The record's Key is key.
func (s *StoreClient) Read(ctx context.Context, key string) (*store.Record, error) {
	resp, err := unary(ctx, s.c, storeSentinels, func(cn *conn) (*pluginpb.ReadResponse, error) {
		return cn.store.Read(ctx, &pluginpb.ReadRequest{Key: key})
	})
	if err != nil {
		return nil, err
	}
	return &store.Record{Key: key, Value: resp.Value, TTL: time.Duration(resp.TtlNanos)}, nil
}

// Write creates or replaces rec.
func (s *StoreClient) Write(ctx context.Context, rec *store.Record) error {
	req := &pluginpb.WriteRequest{}
	if rec != nil {
		req.Record = &pluginpb.Record{Key: rec.Key, Value: rec.Value, TtlNanos: int64(rec.TTL)}
	}
	_, err := unary(ctx, s.c, storeSentinels, func(cn *conn) (*pluginpb.Empty, error) { return cn.store.Write(ctx, req) })
	return err
}

// Delete removes key.
func (s *StoreClient) Delete(ctx context.Context, key string) error {
	_, err := unary(ctx, s.c, storeSentinels, func(cn *conn) (*pluginpb.Empty, error) {
		return cn.store.Delete(ctx, &pluginpb.DeleteRequest{Key: key})
	})
	return err
}

// List returns the keys that start with prefix, sorted.
func (s *StoreClient) List(ctx context.Context, prefix string) ([]string, error) {
	resp, err := unary(ctx, s.c, storeSentinels, func(cn *conn) (*pluginpb.ListKeysResponse, error) {
		return cn.store.List(ctx, &pluginpb.ListKeysRequest{Prefix: prefix})
	})
	if err != nil {
		return nil, err
	}
	return resp.Keys, nil
}

// Close stops the plugin; later calls return ErrClosed. Closing again does
// nothing.
func (s *StoreClient) Close() error { return s.c.Close() }
