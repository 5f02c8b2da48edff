package natskv

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Progress is how far an index built from a bucket's stream has got: the
// highest stream sequence it has applied, which readers wait for before
// they read the index. The zero Progress is ready to use.
type Progress struct {
	mu      sync.Mutex
	applied uint64
	grew    chan struct{} // closed and replaced when applied grows
}

// changed returns the channel closed when applied next grows. p.mu is held.
func (p *Progress) changed() chan struct{} {
	if p.grew == nil {
		p.grew = make(chan struct{})
	}
	return p.grew
}

// Applied records that the index has applied stream sequence seq. An index
// calls it under its own lock, after applying the message, so that a
// reader whose wait ends sees the message applied.
func (p *Progress) Applied(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.applied {
		p.applied = seq
		close(p.changed())
		p.grew = make(chan struct{})
	}
}

// WaitFor waits until sequence seq is applied, for at most d, and reports
// whether it is.
func (p *Progress) WaitFor(ctx context.Context, seq uint64, d time.Duration) (bool, error) {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		done, grew := p.applied >= seq, p.changed()
		p.mu.Unlock()
		if done {
			return true, nil
		}
		select {
		case <-grew:
		case <-timeout.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Sync waits until every message stream held when Sync was called is
// applied: up to the stream's last sequence or, when that message is gone
// (purged) and so never arrives, until cons, the consumer that feeds the
// index, has nothing pending.
func (p *Progress) Sync(ctx context.Context, stream jetstream.Stream, cons jetstream.Consumer) error {
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	if ok, err := p.WaitFor(ctx, info.State.LastSeq, 250*time.Millisecond); ok || err != nil {
		return err
	}
	for {
		ci, err := cons.Info(ctx)
		switch {
		case errors.Is(err, jetstream.ErrOrderedConsumerNotCreated), errors.Is(err, jetstream.ErrConsumerNotFound):
			// Being created again after a reset.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		case err != nil:
			return err
		}
		target := ci.Delivered.Stream
		if ci.NumPending > 0 {
			target++ // wait for more to arrive
		}
		ok, err := p.WaitFor(ctx, target, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if ok && ci.NumPending == 0 {
			return nil
		}
	}
}
