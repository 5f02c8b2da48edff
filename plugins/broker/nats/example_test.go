package nats_test

import (
	"context"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/broker"
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

	got := make(chan *broker.Message, 1)
	_, err = b.Subscribe(ctx, "greetings", func(_ context.Context, msg *broker.Message) error {
		got <- msg
		return nil // acknowledge
	}, broker.Queue("greeters"))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = b.Publish(ctx, "greetings", &broker.Message{
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := <-got
	fmt.Println(string(msg.Body), msg.Header["Content-Type"], "delivery", msg.Header[broker.DeliveryHeader])
	// Output: hello text/plain delivery 1
}
