package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/memory"
)

func Example() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close(ctx)

	got := make(chan *broker.Message, 1)
	sub, err := b.Subscribe(ctx, "greetings", func(_ context.Context, msg *broker.Message) error {
		got <- msg
		return nil // acknowledge
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Unsubscribe(ctx)

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

// Subscribers in one queue group share the messages of a topic: each message
// goes to one of them.
func Example_queueGroup() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close(ctx)

	var (
		mu   sync.Mutex
		seen = make(map[string]int)
		wg   sync.WaitGroup
	)
	const jobs = 6
	wg.Add(jobs)
	for range 3 {
		_, err := b.Subscribe(ctx, "jobs", func(_ context.Context, msg *broker.Message) error {
			mu.Lock()
			seen[string(msg.Body)]++
			mu.Unlock()
			wg.Done()
			return nil
		}, broker.Queue("workers"))
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	for i := range jobs {
		if err := b.Publish(ctx, "jobs", &broker.Message{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			fmt.Println(err)
			return
		}
	}
	wg.Wait()
	fmt.Println(len(seen), "jobs, each handled once:", seen["job 0"] == 1 && seen["job 5"] == 1)
	// Output: 6 jobs, each handled once: true
}

// A message whose handler keeps failing is dead-lettered after
// WithMaxDeliveries attempts.
func ExampleWithDeadLetter() {
	ctx := context.Background()
	dead := make(chan string, 1)
	b := memory.New(
		memory.WithMaxDeliveries(3),
		memory.WithRedeliveryDelay(10*time.Millisecond),
		memory.WithDeadLetter(func(topic string, msg *broker.Message, err error) {
			dead <- fmt.Sprintf("%s: %s after %s attempts: %v", topic, msg.Body, msg.Header[broker.DeliveryHeader], err)
		}),
	)
	defer b.Close(ctx)

	_, err := b.Subscribe(ctx, "payments", func(context.Context, *broker.Message) error {
		return errors.New("card declined")
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Publish(ctx, "payments", &broker.Message{Body: []byte("pay 10 EUR")}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-dead)
	// Output: payments: pay 10 EUR after 3 attempts: card declined
}
