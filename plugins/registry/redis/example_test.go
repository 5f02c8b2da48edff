package redis_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/plugins/registry/redis"
)

func Example() {
	ctx := context.Background()
	// The zero Config connects to redis://127.0.0.1:6379/0.
	r, err := redis.New(ctx, redis.Config{Connection: redis.Connection{URL: os.Getenv("MICRO_TEST_REDIS")}, Prefix: "micro:example:registry:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	w, err := r.Watch(ctx, registry.WatchService("greeter"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()

	svc := &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{ID: "greeter-1", Address: "10.0.0.5:8080"}},
	}
	// Announce the node for 30 seconds; a server re-registers it before then.
	if err := r.Register(ctx, svc, 30*time.Second); err != nil {
		fmt.Println(err)
		return
	}
	svcs, err := r.Lookup(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svcs[0].Name, svcs[0].Version, svcs[0].Nodes[0].Address)

	r.Deregister(ctx, svc)
	for range 2 {
		ev, err := w.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Type, ev.Service.Name, ev.Service.Nodes[0].ID)
	}
	// Output:
	// greeter 1.0.0 10.0.0.5:8080
	// added greeter greeter-1
	// removed greeter greeter-1
}
