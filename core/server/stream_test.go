package server_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
	"go.uber.org/goleak"
)

// Shapes has one method of each stream shape and several near misses,
// which must be skipped rather than registered.
type Shapes struct{}

func (Shapes) Feed(ctx context.Context, req *Req, s server.ServerStream[Rsp]) error {
	md, _ := metadata.Get(ctx, "who")
	for i := 0; i < req.N; i++ {
		if err := s.Send(&Rsp{N: i}); err != nil {
			return err
		}
	}
	if md == "panic" {
		panic("boom")
	}
	return nil
}

func (Shapes) Chat(ctx context.Context, s server.BidiStream[Req, Rsp]) error {
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&Rsp{N: 2 * m.N}); err != nil {
			return err
		}
	}
}

func (Shapes) NoCtx(req *Req, s server.ServerStream[Rsp]) error { return nil }
func (Shapes) BidiWithReq(ctx context.Context, req *Req, s server.BidiStream[Req, Rsp]) error {
	return nil
}
func (Shapes) ServerNoReq(ctx context.Context, s server.ServerStream[Rsp]) error { return nil }
func (Shapes) NoError(ctx context.Context, s server.BidiStream[Req, Rsp])        {}

type PtrStream struct{}

func (PtrStream) Feed(ctx context.Context, req *Req, s *server.ServerStream[Rsp]) error { return nil }

func TestStreamByPointerIsRefused(t *testing.T) {
	s := server.New(server.WithName("ptr"), server.WithLogger(quiet()))
	err := s.Handle(PtrStream{})
	if err == nil || !strings.Contains(err.Error(), "by value") {
		t.Fatalf("Handle of a method taking *ServerStream: %v, want an error saying to take it by value", err)
	}
}

func TestStreamHandlerShapes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reg := memory.New()
	defer reg.Close()
	s := server.New(server.WithName("shapes"), server.WithRegistry(reg), server.WithLogger(quiet()))
	if err := s.Handle(Shapes{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	kinds := map[string]string{}
	for _, e := range s.Service().Endpoints {
		kinds[e.Name] = e.Metadata[server.MetaStream]
	}
	want := map[string]string{"Shapes.Feed": server.StreamServer, "Shapes.Chat": server.StreamBidi, "Health.Check": ""}
	if len(kinds) != len(want) {
		t.Fatalf("endpoints %v, want exactly %v: near-miss shapes must be skipped", kinds, want)
	}
	for name, kind := range want {
		if got, ok := kinds[name]; !ok || got != kind {
			t.Errorf("%s: kind %q (registered %v), want %q", name, got, ok, kind)
		}
	}

	c := client.New()
	defer c.Close()
	t.Run("server stream with metadata, then a panic", func(t *testing.T) {
		ctx := metadata.NewContext(context.Background(), metadata.MD{"who": "panic"})
		st, err := c.Stream(ctx, "shapes", "Shapes.Feed", client.WithAddress(s.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.Send(&Req{N: 2})
		st.CloseSend()
		for i := 0; i < 2; i++ {
			var m Rsp
			if err := st.Recv(&m); err != nil || m.N != i {
				t.Fatalf("message %d: %d, %v", i, m.N, err)
			}
		}
		if err := st.Recv(&Rsp{}); errors.CodeOf(err) != errors.Internal || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("after the handler panicked: %v, want internal naming the panic", err)
		}
	})
	t.Run("bidi", func(t *testing.T) {
		st, err := c.Stream(context.Background(), "shapes", "Shapes.Chat", client.WithAddress(s.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for i := 1; i < 5; i++ {
			st.Send(&Req{N: i})
			var m Rsp
			if err := st.Recv(&m); err != nil || m.N != 2*i {
				t.Fatalf("reply to %d: %d, %v", i, m.N, err)
			}
		}
		st.CloseSend()
		if err := st.Recv(&Rsp{}); err != io.EOF {
			t.Fatalf("end: %v, want io.EOF", err)
		}
	})
	t.Run("a bad message is invalid_argument", func(t *testing.T) {
		st, err := c.Stream(context.Background(), "shapes", "Shapes.Chat", client.WithAddress(s.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.Send("not an object")
		if err := st.Recv(&Rsp{}); errors.CodeOf(err) != errors.InvalidArgument {
			t.Fatalf("a string where an object is expected: %v, want invalid_argument", err)
		}
	})
	t.Run("middleware sees the stream", func(t *testing.T) {
		var seen []string
		mw := func(next server.Handler) server.Handler {
			return func(ctx context.Context, req *server.Request) (any, error) {
				seen = append(seen, req.Endpoint+":"+req.Stream)
				if req.Endpoint == "Shapes.Chat" {
					return nil, errors.New(errors.PermissionDenied, "no chatting")
				}
				return next(ctx, req)
			}
		}
		s2 := server.New(server.WithName("mw"), server.WithLogger(quiet()), server.WithMiddleware(mw))
		s2.Handle(Shapes{})
		if err := s2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer s2.Stop(context.Background())
		st, err := c.Stream(context.Background(), "mw", "Shapes.Chat", client.WithAddress(s2.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Recv(&Rsp{}); errors.CodeOf(err) != errors.PermissionDenied {
			t.Fatalf("stream refused by middleware: %v, want permission_denied", err)
		}
		if len(seen) != 1 || seen[0] != "Shapes.Chat:bidi" {
			t.Fatalf("middleware saw %v", seen)
		}
	})
}
