package micro_test

import (
	"context"
	"flag"
	"log"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/resolve"
)

// The smallest service: its registry, broker and store come from the
// MICRO_* environment variables, such as MICRO_BROKER=rabbitmq and
// MICRO_BROKER_ADDRESS=amqp://rabbit:5672, else the embedded defaults.
func ExampleNew() {
	svc, err := micro.New("greeter")
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// Flags over the environment: --broker, --broker-address, --config, ...
func ExampleWithFlags() {
	flags := resolve.RegisterFlags(flag.CommandLine)
	flag.Parse()
	svc, err := micro.New("greeter", micro.WithFlags(flags))
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// The embedded defaults whatever the environment says.
func ExampleWithoutEnv() {
	svc, err := micro.New("greeter", micro.WithoutEnv())
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
}
