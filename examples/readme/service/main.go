// Command service is the README's service: the endpoint Greeter.Hello and
// a subscriber to user.created. Its registry, broker and store come from
// MICRO_* variables (the embedded defaults when none is set).
package main

import (
	"context"
	"log"

	"github.com/seedmicro/micro"
)

type HelloRequest struct{ Name string }

type HelloResponse struct{ Greeting string }

type UserCreated struct{ ID int }

type Greeter struct{}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Greeting = "Hello, " + req.Name
	return nil
}

func onUserCreated(ctx context.Context, ev *UserCreated) error {
	log.Printf("user %d created", ev.ID)
	return nil // nil acknowledges the event; an error has it delivered again
}

func main() {
	svc, err := micro.New("greeter", micro.WithVersion("1.0.0"))
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Handle(&Greeter{}); err != nil { // endpoint Greeter.Hello
		log.Fatal(err)
	}
	if err := svc.Subscribe("user.created", onUserCreated); err != nil {
		log.Fatal(err)
	}
	// Run stops gracefully on SIGINT or SIGTERM and then returns nil.
	if err := svc.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
