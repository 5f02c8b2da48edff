package greeterpb_test

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/cmd/protoc-gen-micro/internal/greeterpb"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/server"
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

// LotsOfReplies sends req.Count greetings, then ends with
// FailedPrecondition when the name is "fail".
func (greeter) LotsOfReplies(ctx context.Context, req *greeterpb.HelloRequest, stream server.ServerStream[greeterpb.HelloReply]) error {
	for i := range req.GetCount() {
		if err := stream.Send(&greeterpb.HelloReply{Message: fmt.Sprintf("Hello %d, %s", i+1, req.GetName())}); err != nil {
			return err
		}
	}
	if req.GetName() == "fail" {
		return errors.New(errors.FailedPrecondition, "no more greetings")
	}
	return nil
}

// LotsOfGreetings answers once the client half-closed, with every name
// sent; an empty name ends the stream with InvalidArgument.
func (greeter) LotsOfGreetings(ctx context.Context, stream server.BidiStream[greeterpb.HelloRequest, greeterpb.HelloReply]) error {
	var names []string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.Send(&greeterpb.HelloReply{Message: "Hello, " + strings.Join(names, " and ")})
		}
		if err != nil {
			return err
		}
		if req.GetName() == "" {
			return errors.New(errors.InvalidArgument, "name is empty")
		}
		names = append(names, req.GetName())
	}
}

// BidiHello greets each name as it arrives; an empty name ends the stream
// with InvalidArgument.
func (greeter) BidiHello(ctx context.Context, stream server.BidiStream[greeterpb.HelloRequest, greeterpb.HelloReply]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.GetName() == "" {
			return errors.New(errors.InvalidArgument, "name is empty")
		}
		if err := stream.Send(&greeterpb.HelloReply{Message: "Hello, " + req.GetName()}); err != nil {
			return err
		}
	}
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

// replies receives until the stream ends, and returns the messages and the
// error that ended it (nil: io.EOF, a clean end).
func replies(t *testing.T, recv func() (*greeterpb.HelloReply, error)) ([]string, error) {
	t.Helper()
	var got []string
	for {
		m, err := recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			if m != nil {
				t.Errorf("Recv returned %v with error %v", m, err)
			}
			return got, err
		}
		got = append(got, m.GetMessage())
	}
}

// conversation is a client or bidirectional stream of the generated client.
type conversation interface {
	Send(*greeterpb.HelloRequest) error
	CloseSend() error
	Recv() (*greeterpb.HelloReply, error)
	Close() error
}

// TestGeneratedStreams runs each stream kind through the generated client
// against the generated handler registration of a real server.
func TestGeneratedStreams(t *testing.T) {
	svc := start(t, greeter{})
	c := greeterpb.NewGreeterClient(svc.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// watch runs the server stream LotsOfReplies.
	watch := func(req *greeterpb.HelloRequest) func(t *testing.T) ([]string, error) {
		return func(t *testing.T) ([]string, error) {
			s, err := c.LotsOfReplies(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			return replies(t, s.Recv)
		}
	}
	// talk opens a stream with open and sends a request per name, each
	// answered before the next when inTurn; then it half-closes when
	// closeSend, and receives until the end.
	talk := func(open func() (conversation, error), names []string, inTurn, closeSend bool) func(t *testing.T) ([]string, error) {
		return func(t *testing.T) ([]string, error) {
			s, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []string
			for _, n := range names {
				// io.EOF: the handler ended the stream; Recv says why.
				if err := s.Send(&greeterpb.HelloRequest{Name: n}); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if inTurn {
					m, err := s.Recv()
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, m.GetMessage())
				}
			}
			if closeSend {
				if err := s.CloseSend(); err != nil {
					t.Fatal(err)
				}
			}
			rest, err := replies(t, s.Recv)
			return append(got, rest...), err
		}
	}
	greetings := func() (conversation, error) { return c.LotsOfGreetings(ctx) }
	bidi := func() (conversation, error) { return c.BidiHello(ctx) }
	goodbyes := func() (conversation, error) { return c.Goodbyes(ctx) }
	tests := []struct {
		name string
		run  func(t *testing.T) ([]string, error)
		want []string
		code errors.Code
		msg  string // the handler's error message, when code is not OK
	}{
		{"server stream", watch(&greeterpb.HelloRequest{Name: "Ada", Count: 2}),
			[]string{"Hello 1, Ada", "Hello 2, Ada"}, errors.OK, ""},
		{"server stream error after the last message", watch(&greeterpb.HelloRequest{Name: "fail", Count: 1}),
			[]string{"Hello 1, fail"}, errors.FailedPrecondition, "no more greetings"},
		{"client stream", talk(greetings, []string{"Ada", "Grace"}, false, true),
			[]string{"Hello, Ada and Grace"}, errors.OK, ""},
		{"client stream handler error", talk(greetings, []string{""}, false, false),
			nil, errors.InvalidArgument, "name is empty"},
		{"bidirectional stream", talk(bidi, []string{"Ada", "Grace"}, true, true),
			[]string{"Hello, Ada", "Hello, Grace"}, errors.OK, ""},
		{"bidirectional stream error after the last message", talk(bidi, []string{"Ada", ""}, false, false),
			[]string{"Hello, Ada"}, errors.InvalidArgument, "name is empty"},
		{"unimplemented embed", talk(goodbyes, nil, false, false),
			nil, errors.Unimplemented, "greeter.v1.Greeter.Goodbyes is not implemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run(t)
			if errors.CodeOf(err) != tt.code {
				t.Fatalf("stream ended with %v (code %v), want %v", err, errors.CodeOf(err), tt.code)
			}
			var e *errors.Error
			if tt.msg != "" && (!stderrors.As(err, &e) || e.Message() != tt.msg) {
				t.Fatalf("stream ended with %q, want the message %q", err, tt.msg)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("replies %q, want %q", got, tt.want)
			}
		})
	}
}
