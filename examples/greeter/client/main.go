// Command client calls the greeter example service and publishes an event
// that the service's subscriber receives. It takes the service's flags
// (--registry, --broker, ...; see the service) to reach it where it runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/examples/greeter/greeter"
	"github.com/seedmicro/micro/examples/greeter/greeter/greeterclient"
	"github.com/seedmicro/micro/resolve"
)

func main() {
	name := flag.String("name", "World", "who to greet")
	wait := flag.Duration("wait", 10*time.Second, "how long to wait for the service to appear")
	flags := resolve.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if err := run(flags, *name, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(flags *resolve.Flags, name string, wait time.Duration) error {
	svc, err := micro.New("greeter.client", micro.WithFlags(flags), micro.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return err
	}
	defer svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// Wait until the service has registered, so `make demo` can start both
	// at once.
	for {
		if _, err := svc.Registry().Lookup(ctx, greeter.ServiceName); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %q did not appear within %v: is it running?", greeter.ServiceName, wait)
		case <-time.After(100 * time.Millisecond):
		}
	}
	rsp, err := greeterclient.New(svc.Client()).Hello(ctx, &greeter.HelloRequest{Name: name})
	if err != nil {
		return fmt.Errorf("call %s: %w", greeterclient.GreeterHelloEndpoint, err)
	}
	fmt.Println(rsp.Greeting)
	if err := greeterclient.NewPublisher(svc.Client()).PublishGreeted(ctx, &greeter.Greeted{Name: name}); err != nil {
		return fmt.Errorf("publish %s: %w", greeterclient.GreetedTopic, err)
	}
	fmt.Printf("published %s for %s\n", greeterclient.GreetedTopic, name)
	return nil
}
