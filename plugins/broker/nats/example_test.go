package nats_test

import (
	"context"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

func Example() {
	ctx := context.Background()
	url := os.Getenv("MICRO_TEST_NATS") // empty: nats://127.0.0.1:4222
	b, err := micronats.New(ctx, micronats.Config{
		Connection:    micronats.Connection{URL: url},
		Stream:        "EXAMPLE",
		SubjectPrefix: "example",
		StreamStorage: "memory",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(ctx)

	// The round trip is that of the memory broker's example.
	msg, err := brokertest.RoundTrip(ctx, b, "greetings", &broker.Message{
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello"),
	}, broker.Queue("greeters"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(msg.Body), msg.Header["Content-Type"], "delivery", msg.Header[broker.DeliveryHeader])
	// Output: hello text/plain delivery 1
}
