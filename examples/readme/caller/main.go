// Command caller is the README's caller: it calls Greeter.Hello and
// publishes user.created.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/core/errors"
)

type HelloRequest struct{ Name string }

type HelloResponse struct{ Greeting string }

type UserCreated struct{ ID int }

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := micro.New("greeter-caller")
	if err != nil {
		return err
	}
	defer svc.Close()

	var rsp HelloResponse
	err = svc.Client().Call(ctx, "greeter", "Greeter.Hello", &HelloRequest{Name: "Ada"}, &rsp)
	if errors.CodeOf(err) == errors.NotFound {
		return fmt.Errorf("no greeter is running: start it first (%w)", err)
	}
	if err != nil {
		return err
	}
	fmt.Println(rsp.Greeting)
	return svc.Client().Publish(ctx, "user.created", &UserCreated{ID: 42})
}
