// Command service runs the greeter example service. By default it runs on
// the embedded defaults, which need no registry or broker server; flags,
// MICRO_* environment variables or a config file choose others, compiled in
// or installed as plugins:
//
//	service --broker rabbitmq --broker-address amqp://guest:guest@localhost:5672/
//
// once `micro-new install broker/rabbitmq` has installed the plugin. Run
// `service -h` for every flag.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/examples/greeter/greeter"
	"github.com/seedmicro/micro/resolve"
)

func main() {
	flags := resolve.RegisterFlags(flag.CommandLine)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	svc, err := micro.New(greeter.ServiceName, micro.WithVersion("1.0.0"), micro.WithLogger(log), micro.WithFlags(flags))
	if err != nil {
		log.Error("build service", "error", err)
		os.Exit(1)
	}
	g := &greeter.Greeter{Log: log}
	if err := svc.Handle(g); err != nil {
		log.Error("handle", "error", err)
		os.Exit(1)
	}
	if err := svc.Subscribe(greeter.TopicGreeted, g.OnGreeted); err != nil {
		log.Error("subscribe", "error", err)
		os.Exit(1)
	}
	if err := svc.Run(context.Background()); err != nil {
		log.Error("run", "error", err)
		os.Exit(1)
	}
}
