package greeterpb_test

import (
	"context"
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/cmd/protoc-gen-micro/internal/greeterpb"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry/local"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// greeter implements SayHello only; SayGoodbye comes from the embed.
type greeter struct {
	greeterpb.UnimplementedGreeterHandler
}

func (greeter) SayHello(ctx context.Context, req *greeterpb.HelloRequest, rsp *greeterpb.HelloReply) error {
	if req.GetName() == "" {
		return errors.New(errors.InvalidArgument, "name is empty")
	}
	rsp.Message = "Hello, " + req.GetName()
	return nil
}

// Extra has the shape of an endpoint, but is not an RPC of the service:
// RegisterGreeterHandler must not serve it.
func (greeter) Extra(ctx context.Context, req *greeterpb.HelloRequest, rsp *greeterpb.HelloReply) error {
	return nil
}

// start runs a service on the embedded defaults (local registry in a
// directory of the test, direct broker) serving h.
func start(t *testing.T, h greeterpb.GreeterHandler) *micro.Service {
	t.Helper()
	t.Setenv(local.EnvDir, t.TempDir())
	svc, err := micro.New(greeterpb.GreeterServiceName, micro.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := greeterpb.RegisterGreeterHandler(svc, h); err != nil {
		svc.Close()
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		svc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return svc
}

func TestGeneratedClientCallsServer(t *testing.T) {
	svc := start(t, greeter{})
	c := greeterpb.NewGreeterClient(svc.Client())
	ctx := context.Background()
	tests := []struct {
		name string
		call func() (*greeterpb.HelloReply, error)
		want string
		code errors.Code
	}{
		{"implemented", func() (*greeterpb.HelloReply, error) {
			return c.SayHello(ctx, &greeterpb.HelloRequest{Name: "Ada"})
		}, "Hello, Ada", errors.OK},
		{"handler error keeps its code", func() (*greeterpb.HelloReply, error) {
			return c.SayHello(ctx, &greeterpb.HelloRequest{})
		}, "", errors.InvalidArgument},
		{"unimplemented embed", func() (*greeterpb.HelloReply, error) {
			return c.SayGoodbye(ctx, &greeterpb.HelloRequest{Name: "Ada"})
		}, "", errors.Unimplemented},
		{"other service name", func() (*greeterpb.HelloReply, error) {
			return greeterpb.NewGreeterClient(svc.Client(), greeterpb.WithGreeterService("nobody")).
				SayHello(ctx, &greeterpb.HelloRequest{Name: "Ada"})
		}, "", errors.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp, err := tt.call()
			if got := errors.CodeOf(err); got != tt.code {
				t.Fatalf("code %v (err %v), want %v", got, err, tt.code)
			}
			if err == nil && rsp.GetMessage() != tt.want {
				t.Fatalf("message %q, want %q", rsp.GetMessage(), tt.want)
			}
			if err != nil && rsp != nil {
				t.Fatalf("response %v with error %v", rsp, err)
			}
		})
	}
}

func TestRegisterServesOnlyTheRPCs(t *testing.T) {
	svc := start(t, greeter{})
	var rsp greeterpb.HelloReply
	err := svc.Client().Call(context.Background(), greeterpb.GreeterServiceName, "Greeter.Extra", &greeterpb.HelloRequest{Name: "x"}, &rsp)
	if errors.CodeOf(err) == errors.OK {
		t.Fatal("Greeter.Extra was served; only the service's RPCs should be")
	}
}

// Adding an RPC to the .proto never breaks a handler that embeds
// UnimplementedGreeterHandler: the embed alone satisfies the interface.
func TestUnimplementedSatisfiesHandler(t *testing.T) {
	var h greeterpb.GreeterHandler = greeterpb.UnimplementedGreeterHandler{}
	var rsp greeterpb.HelloReply
	err := h.SayHello(context.Background(), &greeterpb.HelloRequest{}, &rsp)
	if errors.CodeOf(err) != errors.Unimplemented {
		t.Fatalf("code %v, want Unimplemented", errors.CodeOf(err))
	}
}
