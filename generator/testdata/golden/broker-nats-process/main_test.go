package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/resolve"

	"example.com/greeter/handler"
	"example.com/greeter/handler/handlerclient"
	"example.com/greeter/subscriber"
)

// TestService runs the service on the embedded in-memory registry and
// broker (no server needed), calls its endpoint through the typed client and
// publishes an event to its subscriber.
func TestService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	cfg := resolve.Config{
		Registry: resolve.Component{Name: "memory"},
		Broker:   resolve.Component{Name: "memory"},
		Store:    resolve.Component{Name: "memory"},
	}
	svc, err := micro.New(handler.ServiceName, micro.WithLogger(log), micro.WithConfig(cfg), micro.WithResolver(newResolver(log)))
	if err != nil {
		t.Fatal(err)
	}
	sub := &subscriber.Subscriber{}
	if err := register(svc, &handler.Greeter{}, sub); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(context.Background())

	// handlerclient is generated from the handler (micro-new gen): it
	// names the service and the endpoint, and types the response.
	rsp, err := handlerclient.New(svc.Client()).Hello(ctx, &handler.HelloRequest{Name: "test"})
	if err != nil {
		t.Fatalf("call Greeter.Hello: %v", err)
	}
	if want := "Hello, test!"; rsp.Greeting != want {
		t.Fatalf("Greeter.Hello = %q, want %q", rsp.Greeting, want)
	}

	if err := svc.Client().Publish(ctx, subscriber.Topic, &subscriber.Event{Name: "test"}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	for sub.Count() < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the subscriber did not receive the event")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestConfigFile checks that micro.json is a configuration the service
// reads.
func TestConfigFile(t *testing.T) {
	cfg, err := resolve.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Broker.Name; got != "nats" {
		t.Errorf("micro.json: broker %q, want %q", got, "nats")
	}
	_ = cfg
}
