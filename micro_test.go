package micro_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	brokermem "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/internal/testkit"
)

func TestMain(m *testing.M) {
	// The test binary is also the broker plugin some tests install.
	if os.Getenv(envServeBroker) != "" {
		plugin.Serve(plugin.Broker(brokermem.New()))
		os.Exit(0)
	}
	testkit.Main(m, nil)
}

type Req struct{ Name string }
type Rsp struct{ Msg string }

type Greeter struct{}

func (Greeter) Hello(ctx context.Context, req *Req, rsp *Rsp) error {
	rsp.Msg = "hi " + req.Name
	return nil
}

func quiet() micro.Option { return micro.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func TestServiceWithGivenComponents(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	b := brokermem.New()
	defer b.Close(context.Background())
	svc, err := micro.New("greeter", micro.WithRegistry(reg), micro.WithBroker(b), quiet())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if err := svc.Handle(Greeter{}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe("said", func(ctx context.Context, r *Req) error { got <- r.Name; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rsp Rsp
	if err := svc.Client().Call(context.Background(), "greeter", "Greeter.Hello", &Req{Name: "ada"}, &rsp); err != nil || rsp.Msg != "hi ada" {
		t.Fatalf("call: %v %q", err, rsp.Msg)
	}
	if err := svc.Client().Publish(context.Background(), "said", &Req{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != "bob" {
			t.Fatalf("event %q", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	if err := svc.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(local.EnvDir, dir)
	svc, err := micro.New("runner", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Handle(Greeter{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	// Another process would see it in the local registry.
	other, err := local.New(local.WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := other.Lookup(context.Background(), "runner"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("service never registered in the local registry")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestNewRejectsEmptyName(t *testing.T) {
	if _, err := micro.New(""); err == nil {
		t.Fatal("New(\"\") succeeded")
	}
}
