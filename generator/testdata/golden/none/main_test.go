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
)

// TestService runs the service on the embedded in-memory registry and
// broker (no server needed), calls its endpoint through the typed client.
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
	if err := register(svc, &handler.Greeter{}); err != nil {
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
}

// TestConfigFile checks that micro.json is a configuration the service
// reads.
func TestConfigFile(t *testing.T) {
	cfg, err := resolve.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	_ = cfg
}
