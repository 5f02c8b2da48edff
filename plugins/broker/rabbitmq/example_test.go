package rabbitmq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

// exampleExchange is the exchange of the examples, deleted by TestMain.
const exampleExchange = "micro-example"

func Example() {
	ctx := context.Background()
	b, err := rabbitmq.New(ctx, rabbitmq.Config{
		URL:      os.Getenv("MICRO_TEST_AMQP"), // empty: rabbitmq.DefaultURL
		Exchange: exampleExchange,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(ctx)

	// Publish returns once RabbitMQ has confirmed the message; the round
	// trip is that of the memory broker's example.
	msg, err := brokertest.RoundTrip(ctx, b, "greetings", &broker.Message{
		ID:     "greeting-1",
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msg.ID, string(msg.Body), msg.Header["Content-Type"], "delivery", msg.Header[broker.DeliveryHeader])
	// Output: greeting-1 hello text/plain delivery 1
}

// Subscribers in one queue group share a durable quorum queue, named by
// QueueName: each message goes to one of them, and messages published
// while no member runs wait in the queue.
func Example_queueGroup() {
	ctx := context.Background()
	b, err := rabbitmq.New(ctx, rabbitmq.Config{URL: os.Getenv("MICRO_TEST_AMQP"), Exchange: exampleExchange})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(ctx)

	seen, err := brokertest.ShareJobs(ctx, b, "jobs", "workers", 3, 6)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rabbitmq.QueueName(exampleExchange, "jobs", "workers"))
	fmt.Println(len(seen), "jobs, each handled once:", seen["job 0"] == 1 && seen["job 5"] == 1)
	// Output:
	// micro-example.jobs.workers
	// 6 jobs, each handled once: true
}

// A Config is what an out-of-process plugin reads from JSON; durations are
// strings.
func ExampleConfig() {
	var cfg rabbitmq.Config
	err := json.Unmarshal([]byte(`{
		"url": "amqp://app:secret@rabbit.internal:5672/orders",
		"exchange": "events",
		"prefetch": 16,
		"max_deliveries": 10,
		"reconnect_max": "30s"
	}`), &cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Exchange, cfg.Prefetch, cfg.MaxDeliveries, cfg.ReconnectMax)
	// Output: events 16 10 30s
}
