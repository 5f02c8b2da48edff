package broker

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Coalescer turns concurrent Publish calls into batches for a
// BatchPublisher, the way a database commits a group of transactions: a
// call made while Limit batches are on their way waits, and goes with the
// calls made meanwhile in the next batch. A call alone is published at
// once, in a batch of its own; under load the batches grow, and with them
// the messages per round trip. Each call still returns once its own
// message is published, with its own error.
//
// The zero Coalescer is not usable: set PublishBatch. A Coalescer must not
// be copied after first use.
type Coalescer struct {
	// PublishBatch publishes a batch: a BatchPublisher's method.
	PublishBatch func(ctx context.Context, pubs []Publication, errs []error)
	// Limit is the most batches on their way at once; 0 means 1.
	Limit int

	mu      sync.Mutex
	waiting []*coalesced
	running int
}

// coalesced is one Publish call.
type coalesced struct {
	ctx  context.Context
	pub  Publication
	err  error
	done chan struct{} // closed once err is set
}

// Publish publishes msg to topic in the next batch and returns its error.
// A call that finds fewer than Limit batches on their way is published at
// once, as a batch of its own under ctx. If ctx ends while the call waits
// for a batch, it returns ctx's error and
// the message is not published; once its batch is on its way, it returns
// when the batch does, which is bounded by the latest deadline of the
// batch's calls.
func (c *Coalescer) Publish(ctx context.Context, topic string, msg *Message) error {
	c.mu.Lock()
	if c.running < max(c.Limit, 1) {
		// Alone: a batch of one, under the call's own ctx.
		c.running++
		c.mu.Unlock()
		errs := []error{nil}
		c.PublishBatch(ctx, []Publication{{Topic: topic, Message: msg}}, errs)
		c.handOff()
		return errs[0]
	}
	call := &coalesced{ctx: ctx, pub: Publication{Topic: topic, Message: msg}, done: make(chan struct{})}
	c.waiting = append(c.waiting, call)
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if i := slices.Index(c.waiting, call); i >= 0 {
		c.waiting = slices.Delete(c.waiting, i, i+1)
		c.mu.Unlock()
		return ctx.Err()
	}
	c.mu.Unlock()
	<-call.done // taken into a batch: its outcome comes
	return call.err
}

// run publishes batch, and then hands the calls that waited meanwhile on.
func (c *Coalescer) run(batch []*coalesced) {
	c.publish(batch)
	c.handOff()
}

// handOff ends a batch: the calls that waited meanwhile go as the next one,
// on a goroutine of their own, so that the caller returns with its own
// result.
func (c *Coalescer) handOff() {
	c.mu.Lock()
	next := c.waiting
	c.waiting = nil
	if len(next) == 0 {
		c.running--
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go c.run(next)
}

// publish publishes batch until the latest deadline of its calls (none if
// one has none), with the values of the first call's ctx.
func (c *Coalescer) publish(batch []*coalesced) {
	ctx := context.WithoutCancel(batch[0].ctx)
	var latest time.Time
	for _, call := range batch {
		dl, ok := call.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	if !latest.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, latest)
		defer cancel()
	}
	pubs := make([]Publication, len(batch))
	for i, call := range batch {
		pubs[i] = call.pub
	}
	errs := make([]error, len(batch))
	c.PublishBatch(ctx, pubs, errs)
	for i, call := range batch {
		call.err = errs[i]
		close(call.done)
	}
}
