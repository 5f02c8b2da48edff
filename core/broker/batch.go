package broker

import "context"

// Publication is one message to publish to a topic, in a batch.
type Publication struct {
	Topic   string
	Message *Message
}

// BatchPublisher is implemented by a Broker that can publish several
// messages in one exchange with its server: a Redis pipeline, NATS
// publishes whose acknowledgements are awaited together, RabbitMQ
// publishes whose confirms are awaited together. It does the same work as
// len(pubs) Publish calls, with the same guarantee for each message, in
// fewer round trips and system calls.
//
// PublishBatch publishes every publication and sets errs[i] (len(errs) ==
// len(pubs)) to what Publish would have returned for pubs[i]: nil once the
// server has stored it. The messages are independent: one failing does not
// stop the others, and their order on the server is not promised.
//
// The plugin bridge calls PublishBatch with the calls that reach a plugin
// together, so a plugin's broker should implement it; Publish remains the
// interface's only requirement.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, pubs []Publication, errs []error)
}

// PublishEach is a PublishBatch for any Broker: it calls Publish for each
// publication in turn.
func PublishEach(ctx context.Context, b Broker, pubs []Publication, errs []error) {
	for i, p := range pubs {
		errs[i] = b.Publish(ctx, p.Topic, p.Message)
	}
}
