// Command service runs the greeter example service on the embedded
// defaults: no registry or broker server is needed.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/examples/greeter/greeter"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	svc, err := micro.New(greeter.ServiceName, micro.WithVersion("1.0.0"), micro.WithLogger(log))
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
