package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	brokermem "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type Req struct {
	N int `json:"n"`
}
type Rsp struct {
	N int `json:"n"`
}

type Calc struct{}

func (Calc) Double(ctx context.Context, req *Req, rsp *Rsp) error { rsp.N = 2 * req.N; return nil }
func (Calc) Panic(ctx context.Context, req *Req, rsp *Rsp) error  { panic("boom") }

// Helper has the wrong shape and must be skipped, not registered.
func (Calc) Helper(n int) int { return n }

func TestHandleValidation(t *testing.T) {
	tests := []struct {
		name    string
		h       any
		opts    []server.HandleOption
		wantErr string
	}{
		{"nil", nil, nil, "Handle(nil)"},
		{"no methods", struct{}{}, []server.HandleOption{server.Name("Empty")}, "no handler methods"},
		{"duplicate", Calc{}, nil, "already registered"},
	}
	s := server.New(server.WithName("calc"), server.WithLogger(quiet()))
	if err := s.Handle(Calc{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Handle(tt.h, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestSubscribeValidation(t *testing.T) {
	s := server.New(server.WithName("x"), server.WithLogger(quiet()))
	for _, fn := range []any{
		func(ev *Req) error { return nil },
		func(ctx context.Context, ev Req) error { return nil },
		func(ctx context.Context, ev *Req) {},
		"not a func",
	} {
		if err := s.Subscribe("t", fn); err == nil || !strings.Contains(err.Error(), "func(ctx context.Context, ev *T) error") {
			t.Errorf("Subscribe(%T) err = %v, want the expected signature named", fn, err)
		}
	}
	if err := s.Subscribe("t", func(ctx context.Context, ev *Req) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "WithBroker") {
		t.Fatalf("Start without a broker: %v, want a hint to use WithBroker", err)
	}
}

func TestPanicBecomesInternalAndServerSurvives(t *testing.T) {
	s := server.New(server.WithName("calc"), server.WithLogger(quiet()))
	if err := s.Handle(Calc{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	c := client.New()
	defer c.Close()
	err := c.Call(context.Background(), "calc", "Calc.Panic", &Req{}, &Rsp{}, client.WithAddress(s.Addr()))
	if errors.CodeOf(err) != errors.Internal || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want Internal mentioning the panic", err)
	}
	var rsp Rsp
	if err := c.Call(context.Background(), "calc", "Calc.Double", &Req{N: 21}, &rsp, client.WithAddress(s.Addr())); err != nil || rsp.N != 42 {
		t.Fatalf("after a panic: %v, %d", err, rsp.N)
	}
}

func TestBadRequestBodyIsInvalidArgument(t *testing.T) {
	s := server.New(server.WithName("calc"), server.WithLogger(quiet()))
	if err := s.Handle(Calc{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	c := client.New()
	defer c.Close()
	// A string where the handler expects an object.
	err := c.Call(context.Background(), "calc", "Calc.Double", "not an object", &Rsp{}, client.WithAddress(s.Addr()))
	if errors.CodeOf(err) != errors.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
}

func TestSubscriberNackIsRedelivered(t *testing.T) {
	b := brokermem.New(brokermem.WithRedeliveryDelay(time.Millisecond))
	defer b.Close(context.Background())
	reg := memory.New()
	defer reg.Close()
	var attempts atomic.Int32
	done := make(chan int, 1)
	s := server.New(server.WithName("worker"), server.WithBroker(b), server.WithRegistry(reg), server.WithLogger(quiet()))
	if err := s.Subscribe("jobs", func(ctx context.Context, ev *Req) error {
		if attempts.Add(1) < 3 {
			return errors.New(errors.Unavailable, "not yet")
		}
		done <- ev.N
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	c := client.New(client.WithBroker(b))
	defer c.Close()
	if err := c.Publish(context.Background(), "jobs", &Req{N: 7}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-done:
		if n != 7 || attempts.Load() != 3 {
			t.Fatalf("got %d after %d attempts, want 7 after 3", n, attempts.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("event not acknowledged; %d attempts", attempts.Load())
	}
}

func TestReregistersBeforeTTL(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	s := server.New(server.WithName("ttl"), server.WithRegistry(reg), server.WithTTL(300*time.Millisecond), server.WithLogger(quiet()))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	// Well past several TTLs the node must still be there.
	for i := 0; i < 10; i++ {
		time.Sleep(100 * time.Millisecond)
		if _, err := reg.Lookup(context.Background(), "ttl"); err != nil {
			t.Fatalf("after %dms: %v", (i+1)*100, err)
		}
	}
}

func TestStartRequiresName(t *testing.T) {
	s := server.New(server.WithLogger(quiet()))
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "WithName") {
		t.Fatalf("err = %v", err)
	}
}
