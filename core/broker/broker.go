// Package broker defines publish/subscribe messaging. A handler's return value
// is its acknowledgement: nil acks the message, an error nacks it and the
// broker redelivers it (or dead-letters it, by the broker's settings).
package broker

import (
	"context"
	"errors"
)

// ErrClosed is returned by operations on a closed broker.
var ErrClosed = errors.New("broker: closed")

// Message is what travels over a broker.
type Message struct {
	// ID identifies the message; a broker fills it in when empty.
	ID string
	// Header carries metadata such as the content type.
	Header map[string]string
	// Body is the payload.
	Body []byte
}

// Handler processes one delivery. Returning nil acknowledges it; returning an
// error asks for redelivery.
type Handler func(ctx context.Context, msg *Message) error

// Broker publishes messages to topics and delivers them to subscribers.
//
// Every subscriber without a queue group receives every message published to
// its topic. Subscribers that share a queue group on a topic share its
// messages: each message goes to one of them.
type Broker interface {
	Publish(ctx context.Context, topic string, msg *Message) error
	Subscribe(ctx context.Context, topic string, h Handler, opts ...SubscribeOption) (Subscription, error)
	Close(ctx context.Context) error
}

// Subscription is an active subscription.
type Subscription interface {
	Topic() string
	// Unsubscribe stops deliveries and waits for handlers in progress.
	Unsubscribe(ctx context.Context) error
}

// SubscribeOption configures Subscribe.
type SubscribeOption func(*SubscribeOptions)

// SubscribeOptions is the resolved form of SubscribeOption.
type SubscribeOptions struct {
	// Queue is the queue group; empty means every subscriber gets every message.
	Queue string
	// Concurrency is the most handler calls of the subscription that run
	// at once; 0 and 1 mean one at a time.
	Concurrency int
}

// Queue puts the subscriber into a queue group.
func Queue(name string) SubscribeOption {
	return func(o *SubscribeOptions) { o.Queue = name }
}

// Concurrency lets up to n handler calls of the subscription run at once,
// for handlers that wait on I/O (or sit across a process boundary) and would
// otherwise cap a subscription at one message per round trip. The default is
// one at a time. With n > 1, messages of a subscription may be handled out of
// order. A broker that cannot run handlers concurrently documents it and
// treats n as 1.
func Concurrency(n int) SubscribeOption {
	return func(o *SubscribeOptions) { o.Concurrency = n }
}

// NewSubscribeOptions applies opts.
func NewSubscribeOptions(opts ...SubscribeOption) SubscribeOptions {
	var o SubscribeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
