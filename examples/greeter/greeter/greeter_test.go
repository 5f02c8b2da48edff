package greeter_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/examples/greeter/greeter"
	"github.com/seedmicro/micro/examples/greeter/greeter/greeterclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestThroughTypedClient runs the service on the embedded defaults and
// uses it as its callers do: through the generated client and publisher.
func TestThroughTypedClient(t *testing.T) {
	t.Setenv(local.EnvDir, t.TempDir())
	log := slog.New(slog.DiscardHandler)
	svc, err := micro.New(greeter.ServiceName, micro.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	g := &greeter.Greeter{Log: log}
	for _, err := range []error{svc.Handle(g), svc.Subscribe(greeter.TopicGreeted, g.OnGreeted), svc.Start(context.Background())} {
		if err != nil {
			svc.Close()
			t.Fatal(err)
		}
	}
	defer svc.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c := greeterclient.New(svc.Client())
	rsp, err := c.Hello(ctx, &greeter.HelloRequest{Name: "Ada"})
	if err != nil || rsp.Greeting != "Hello, Ada!" {
		t.Fatalf("Hello: %+v, %v", rsp, err)
	}
	if _, err := c.Hello(ctx, &greeter.HelloRequest{}); errors.CodeOf(err) != errors.InvalidArgument {
		t.Fatalf("Hello with no name: %v, want InvalidArgument", err)
	}
	if err := greeterclient.NewPublisher(svc.Client()).PublishGreeted(ctx, &greeter.Greeted{Name: "Ada"}); err != nil {
		t.Fatal(err)
	}
	for g.Events() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the subscriber did not receive the event")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
