package plugin

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/store"
)

// The benchmarks here measure what the bridge adds to a gRPC unary call:
// the same call over the same kind of connection (a unix socket, no TLS,
// one process), once to a bare gRPC service that answers at once, once
// through the bridge (host adapter, plugin-side adapter) to an
// implementation that answers at once. bench/ measures the whole.

// fixedStore answers every Read with the same record.
type fixedStore struct {
	store.Store
	rec store.Record
}

func (s *fixedStore) Read(context.Context, string) (*store.Record, error) {
	r := s.rec
	return &r, nil
}

// nopBroker takes every message and does nothing with it.
type nopBroker struct{ broker.Broker }

func (nopBroker) Publish(context.Context, string, *broker.Message) error { return nil }

// rawStore and rawBroker are bare gRPC services.
type rawStore struct {
	pluginpb.UnimplementedStoreServer
	value []byte
}

func (s *rawStore) Read(context.Context, *pluginpb.ReadRequest) (*pluginpb.ReadResponse, error) {
	return &pluginpb.ReadResponse{Value: s.value}, nil
}

type rawBroker struct {
	pluginpb.UnimplementedBrokerServer
}

func (rawBroker) Publish(context.Context, *pluginpb.PublishRequest) (*pluginpb.Empty, error) {
	return &pluginpb.Empty{}, nil
}

// serveUnix serves what register registers on a unix socket and returns a
// connection to it.
func serveUnix(b *testing.B, register func(*grpc.Server)) *grpc.ClientConn {
	b.Helper()
	path := filepath.Join(b.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go s.Serve(l)
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cc.Close()
		s.Stop()
	})
	return cc
}

// bridged returns a Client of p over a plain unix socket.
func bridged(b *testing.B, p Plugin) *Client {
	b.Helper()
	srv := newServer(p)
	cc := serveUnix(b, srv.register)
	if err := configure(context.Background(), cc, p.kind, "bench", nil); err != nil {
		b.Fatal(err)
	}
	c := newClient(p.kind, "bench", slog.New(slog.DiscardHandler))
	c.conn.Store(newConn(&channel{cc: cc, exited: context.Background()}, func() {}))
	return c
}

func BenchmarkStoreRead(b *testing.B) {
	value := make([]byte, 64)
	b.Run("raw", func(b *testing.B) {
		client := pluginpb.NewStoreClient(serveUnix(b, func(s *grpc.Server) {
			pluginpb.RegisterStoreServer(s, &rawStore{value: value})
		}))
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Read(ctx, &pluginpb.ReadRequest{Key: "key"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bridge", func(b *testing.B) {
		s := bridged(b, Store(&fixedStore{rec: store.Record{Key: "key", Value: value}})).Store()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Read(ctx, "key"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPublish(b *testing.B) {
	body := make([]byte, 1024)
	header := map[string]string{"Content-Type": "application/octet-stream"}
	b.Run("raw", func(b *testing.B) {
		client := pluginpb.NewBrokerClient(serveUnix(b, func(s *grpc.Server) {
			pluginpb.RegisterBrokerServer(s, rawBroker{})
		}))
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			req := &pluginpb.PublishRequest{Topic: "t", Message: &pluginpb.Message{Header: header, Body: body}}
			if _, err := client.Publish(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bridge", func(b *testing.B) {
		br := bridged(b, Broker(nopBroker{})).Broker()
		ctx := context.Background()
		msg := &broker.Message{Header: header, Body: body}
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Publish(ctx, "t", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// 16 publishers per CPU, as brokerbench has 16 in all.
	b.Run("raw-parallel", func(b *testing.B) {
		client := pluginpb.NewBrokerClient(serveUnix(b, func(s *grpc.Server) {
			pluginpb.RegisterBrokerServer(s, rawBroker{})
		}))
		ctx := context.Background()
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := &pluginpb.PublishRequest{Topic: "t", Message: &pluginpb.Message{Header: header, Body: body}}
				if _, err := client.Publish(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("bridge-parallel", func(b *testing.B) {
		br := bridged(b, Broker(nopBroker{})).Broker()
		ctx := context.Background()
		msg := &broker.Message{Header: header, Body: body}
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := br.Publish(ctx, "t", msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// handBroker keeps the handler of its one subscription, for the benchmark
// to deliver by calling it, as a broker that calls one handler at a time.
type handBroker struct {
	broker.Broker
	h chan broker.Handler
}

func (b *handBroker) Subscribe(_ context.Context, topic string, h broker.Handler, _ ...broker.SubscribeOption) (broker.Subscription, error) {
	b.h <- h
	return handSub{topic}, nil
}

type handSub struct{ topic string }

func (s handSub) Topic() string                       { return s.topic }
func (handSub) Unsubscribe(ctx context.Context) error { return nil }

// BenchmarkDeliver measures one delivery's round trip through the bridge:
// the plugin-side handler sends it, the host handler runs, and its answer
// comes back, one at a time.
func BenchmarkDeliver(b *testing.B) {
	body := make([]byte, 1024)
	header := map[string]string{"Content-Type": "application/octet-stream"}
	hb := &handBroker{h: make(chan broker.Handler, 1)}
	br := bridged(b, Broker(hb)).Broker()
	ctx := context.Background()
	sub, err := br.Subscribe(ctx, "t", func(context.Context, *broker.Message) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)
	h := <-hb.h
	msg := &broker.Message{ID: "id", Header: header, Body: body}
	b.ReportAllocs()
	for b.Loop() {
		if err := h(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}
