// Command greeter runs the greeter service.
//
// It reads micro.json (or the file of --config or $MICRO_CONFIG) to choose
// its registry, broker and store; flags and MICRO_* environment variables
// override it:
//
//	greeter --registry memory --broker memory
//
// Run `greeter -h` for every flag.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/resolve"

	"example.com/greeter/handler"
	"example.com/greeter/subscriber"
)

// version is the service's version, announced in the registry.
const version = "0.1.0"

func main() {
	flags := resolve.RegisterFlags(flag.CommandLine)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := flags.Config(withConfigFile(os.Getenv))
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(2)
	}
	svc, err := micro.New(handler.ServiceName,
		micro.WithVersion(version),
		micro.WithLogger(log),
		micro.WithConfig(cfg),
		micro.WithResolver(newResolver(log)),
	)
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	if err := register(svc, &handler.Greeter{}, &subscriber.Subscriber{Log: log}); err != nil {
		log.Error("register", "error", err)
		os.Exit(1)
	}
	// Run stops gracefully on SIGINT or SIGTERM.
	if err := svc.Run(context.Background()); err != nil {
		log.Error("run", "error", err)
		os.Exit(1)
	}
}

// register adds the service's handlers and subscribers.
func register(svc *micro.Service, h *handler.Greeter, sub *subscriber.Subscriber) error {
	if err := svc.Handle(h); err != nil {
		return err
	}
	if err := svc.Subscribe(subscriber.Topic, sub.Handle); err != nil {
		return err
	}
	return nil
}
