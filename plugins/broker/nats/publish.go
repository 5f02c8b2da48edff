package nats

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/broker"
)

// Publish sends msg to topic. In JetStream mode it returns once the stream
// has stored msg. A message without ID gets one; msg is not modified or
// kept.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	o, err := b.prepare(topic, msg)
	if err != nil {
		return err
	}
	defer o.release()
	if b.js == nil {
		if err := b.nc.PublishMsg(&o.m); err != nil {
			return b.mapErr("publish to "+topic, err)
		}
		b.stats.published.Add(1)
		return nil
	}
	return b.publishJS(ctx, topic, &o.m)
}

var _ broker.BatchPublisher = (*Broker)(nil)

// PublishBatch publishes every publication as Publish does. In JetStream
// mode it sends them all before it waits for their acknowledgements
// (asynchronous publishes, one flush for the batch); one whose
// acknowledgement reports a failure worth retrying, or does not come
// within an attempt's timeout, is published again as Publish would,
// under the same message ID, so that the stream keeps one copy. In core
// mode it publishes each in turn: core publishes do not wait anyway.
func (b *Broker) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	if b.js == nil || len(pubs) == 1 {
		broker.PublishEach(ctx, b, pubs, errs)
		return
	}
	if b.isClosed() {
		for i := range errs {
			errs[i] = broker.ErrClosed
		}
		return
	}
	type sent struct {
		i   int
		o   *outMsg
		ack jetstream.PubAckFuture
	}
	all := make([]sent, 0, len(pubs))
	for i, p := range pubs {
		o, err := b.prepare(p.Topic, p.Message)
		if err != nil {
			errs[i] = err
			continue
		}
		ack, err := b.js.PublishMsgAsync(&o.m)
		if err != nil {
			// Not sent (too many pending, reconnecting): the way of
			// Publish, with its retries.
			errs[i] = b.publishJS(ctx, p.Topic, &o.m)
			o.release()
			continue
		}
		all = append(all, sent{i, o, ack})
	}
	expired := make(chan struct{}) // closed when the attempt's time is up
	t := time.AfterFunc(attemptTimeout, func() { close(expired) })
	defer t.Stop()
	for _, s := range all {
		topic := pubs[s.i].Topic
		ack, err, again := waitAck(ctx, s.ack, expired)
		switch {
		case ack != nil:
			b.stats.published.Add(1)
			if ack.Duplicate {
				b.stats.duplicates.Add(1)
			}
			errs[s.i] = nil
			s.o.release()
		case !again:
			errs[s.i] = b.mapErr("publish to "+topic, err)
		default:
			// Again, as Publish does; the message ID makes the stream
			// keep one copy if the first reached it after all. The
			// asynchronous publisher may still hold s.o, which is left
			// to the collector.
			b.stats.retries.Add(1)
			m := natsgo.Msg{Subject: s.o.m.Subject, Header: maps.Clone(s.o.m.Header), Data: s.o.m.Data}
			errs[s.i] = b.publishJS(ctx, topic, &m)
		}
	}
}

// waitAck waits for the acknowledgement of an asynchronous publish: the
// ack, or the error and whether to publish again (a failure worth
// retrying, or no answer before expired is closed).
func waitAck(ctx context.Context, f jetstream.PubAckFuture, expired <-chan struct{}) (*jetstream.PubAck, error, bool) {
	select { // what has come first, then what comes
	case ack := <-f.Ok():
		return ack, nil, false
	case err := <-f.Err():
		return nil, err, retryable(err)
	default:
	}
	select {
	case ack := <-f.Ok():
		return ack, nil, false
	case err := <-f.Err():
		return nil, err, retryable(err)
	case <-expired:
		return nil, nil, true
	case <-ctx.Done():
		return nil, ctx.Err(), false
	}
}

// prepare checks topic and msg and encodes msg for topic, with its ID or
// a new one. The caller releases the message.
func (b *Broker) prepare(topic string, msg *broker.Message) (*outMsg, error) {
	if msg == nil {
		return nil, errors.New("nats: Publish of a nil message")
	}
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	id := msg.ID
	if id == "" {
		id = b.ids.New()
	}
	o, err := encode(b.out, b.subject(topic), id, msg)
	if err != nil {
		return nil, err
	}
	if err := b.checkSize(o.size); err != nil {
		o.release()
		return nil, err
	}
	return o, nil
}

// checkSize reports a message of size bytes (body and headers) larger than
// the server accepts, with advice.
func (b *Broker) checkSize(size int64) error {
	if max := b.nc.MaxPayload(); max > 0 && size > max {
		return fmt.Errorf("nats: message of %d bytes (body and headers) exceeds the server's max_payload of %d bytes; raise max_payload in the nats-server configuration: %w", size, max, natsgo.ErrMaxPayload)
	}
	return nil
}

// attemptTimeout bounds one attempt of a JetStream publish.
const attemptTimeout = 2 * time.Second

func (b *Broker) publishJS(ctx context.Context, topic string, m *natsgo.Msg) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Duration(b.cfg.PublishTimeout))
	}
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// One context per attempt, ending at the attempt's timeout or the
		// publish deadline, whichever comes first.
		end := time.Now().Add(attemptTimeout)
		if deadline.Before(end) {
			end = deadline
		}
		actx, cancel := context.WithDeadline(ctx, end)
		ack, err := b.js.PublishMsg(actx, m)
		cancel()
		if err == nil {
			b.stats.published.Add(1)
			if ack.Duplicate {
				b.stats.duplicates.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) || !retryable(err) {
			return b.mapErr(fmt.Sprintf("publish to %s (attempt %d)", topic, attempt), err)
		}
		b.stats.retries.Add(1)
		select {
		case <-ctx.Done():
			return b.mapErr(fmt.Sprintf("publish to %s (attempt %d)", topic, attempt), err)
		case <-time.After(min(wait, time.Until(deadline))):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// retryable reports whether a publish that failed with err may succeed if
// tried again: its acknowledgement was lost or the server was not ready.
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, natsgo.ErrTimeout) ||
		errors.Is(err, natsgo.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, natsgo.ErrConnectionReconnecting) ||
		errors.Is(err, natsgo.ErrDisconnected)
}

// mapErr wraps err of an operation, as broker.ErrClosed once the broker or
// its connection is closed.
func (b *Broker) mapErr(op string, err error) error {
	if b.isClosed() || errors.Is(err, natsgo.ErrConnectionClosed) {
		return fmt.Errorf("nats: %s: %w (%v)", op, broker.ErrClosed, err)
	}
	return fmt.Errorf("nats: %s: %w", op, err)
}
