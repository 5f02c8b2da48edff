package brokertest

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// The helpers below are the broker-independent half of the brokers'
// examples: an example shows how to make its broker and what is particular
// to it, and leaves the publishing and subscribing, the same on every
// broker, to them. The example of core/broker/memory spells them out.

// RoundTrip subscribes to topic with opts, publishes msg to it, waits (up to
// WaitTimeout) for the message to be delivered, unsubscribes and returns the
// message delivered.
func RoundTrip(ctx context.Context, b broker.Broker, topic string, msg *broker.Message, opts ...broker.SubscribeOption) (*broker.Message, error) {
	got := make(chan *broker.Message, 1)
	sub, err := b.Subscribe(ctx, topic, func(_ context.Context, msg *broker.Message) error {
		select {
		case got <- msg:
		default:
		}
		return nil // acknowledge
	}, opts...)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe(ctx)
	if err := b.Publish(ctx, topic, msg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, WaitTimeout)
	defer cancel()
	select {
	case msg := <-got:
		return msg, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("brokertest: no message on %q: %w", topic, ctx.Err())
	}
}

// ShareJobs subscribes members handlers to topic in queue group group,
// publishes jobs messages with the bodies "job 0", "job 1", ..., waits (up
// to WaitTimeout) until each was handled and returns how many times each
// body was handled. The subscriptions stay until b is closed.
func ShareJobs(ctx context.Context, b broker.Broker, topic, group string, members, jobs int) (map[string]int, error) {
	var (
		mu   sync.Mutex
		seen = make(map[string]int)
		wg   sync.WaitGroup
	)
	wg.Add(jobs)
	for range members {
		_, err := b.Subscribe(ctx, topic, func(_ context.Context, msg *broker.Message) error {
			mu.Lock()
			seen[string(msg.Body)]++
			first := seen[string(msg.Body)] == 1
			mu.Unlock()
			if first {
				wg.Done()
			}
			return nil
		}, broker.Queue(group))
		if err != nil {
			return nil, err
		}
	}
	for i := range jobs {
		if err := b.Publish(ctx, topic, &broker.Message{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, WaitTimeout)
	defer cancel()
	if err := brokerutil.Wait(ctx, &wg); err != nil {
		return nil, fmt.Errorf("brokertest: jobs on %q not all handled: %w", topic, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(seen), nil
}
