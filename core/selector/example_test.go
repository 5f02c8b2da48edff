package selector_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/selector"
)

func Example() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	for _, id := range []string{"greeter-1", "greeter-2"} {
		_ = reg.Register(ctx, &registry.Service{
			Name:  "greeter",
			Nodes: []*registry.Node{{ID: id, Address: id + ":8080"}},
		}, 0)
	}

	sel := selector.New(reg) // round robin by default
	defer sel.Close()

	// Each call starts with the next node.
	for range 3 {
		next, err := sel.Select(ctx, "greeter")
		if err != nil {
			fmt.Println(err)
			return
		}
		node, _ := next()
		fmt.Println("call goes to", node.Address)
	}

	// A failed node is passed over while it cools down; Next offers it
	// again only after every other node.
	sel.Mark("greeter", &registry.Node{ID: "greeter-1"}, errors.New("connection refused"))
	next, _ := sel.Select(ctx, "greeter")
	for {
		node, err := next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println("try", node.Address)
	}
	// Output:
	// call goes to greeter-1:8080
	// call goes to greeter-2:8080
	// call goes to greeter-1:8080
	// try greeter-2:8080
	// try greeter-1:8080
	// selector: no node available
}

func ExampleHash() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	for _, id := range []string{"cart-1", "cart-2", "cart-3"} {
		_ = reg.Register(ctx, &registry.Service{
			Name:  "cart",
			Nodes: []*registry.Node{{ID: id, Address: id + ":8080"}},
		}, 0)
	}
	sel := selector.New(reg, selector.WithStrategy(selector.Hash()))
	defer sel.Close()

	// Calls for the same user go to the same node.
	nodeFor := func(user string) string {
		next, _ := sel.Select(selector.WithHashKey(ctx, user), "cart")
		node, _ := next()
		return node.ID
	}
	fmt.Println(nodeFor("alice") == nodeFor("alice"))
	// Output:
	// true
}
