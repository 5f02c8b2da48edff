package nats_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/seedmicro/micro/core/registry"
	micronats "github.com/seedmicro/micro/plugins/registry/nats"
)

func Example() {
	ctx := context.Background()
	r, err := micronats.New(ctx, micronats.Config{
		Connection: micronats.Connection{URL: os.Getenv("MICRO_TEST_NATS")}, // empty: nats://127.0.0.1:4222
		KV:         micronats.KV{Bucket: micronats.DefaultBucket + "_example"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	svc := &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:8080"}},
	}
	if err := r.Register(ctx, svc, 30*time.Second); err != nil {
		fmt.Println(err)
		return
	}
	defer r.Deregister(ctx, svc)

	found, err := r.Lookup(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(found[0].Name, found[0].Version, found[0].Nodes[0].Address)
	// Output: greeter 1.0.0 127.0.0.1:8080
}
