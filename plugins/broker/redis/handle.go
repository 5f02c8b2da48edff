package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// handleAll delivers msgs: new entries (counts nil) for the first time,
// claimed ones with their counter; one after the other, or with up to
// concurrency handler calls at once. When the subscription ends meanwhile,
// the rest is left over; calls in progress are waited for.
func (s *subscription) handleAll(msgs []goredis.XMessage, counts map[string]int64) {
	if counts == nil {
		s.hold(msgs)
	}
	countOf := func(m goredis.XMessage) int64 {
		if counts == nil {
			return 1
		}
		return max(counts[m.ID], 1)
	}
	leave := func(rest []goredis.XMessage) {
		for _, m := range rest {
			s.leftover = append(s.leftover, pending{m.ID, countOf(m)})
		}
	}
	if s.concurrency <= 1 {
		for i, m := range msgs {
			if s.ctx.Err() != nil {
				leave(msgs[i:])
				return
			}
			s.deliver(m, countOf(m))
		}
		return
	}

	// Handler calls run in up to s.concurrency goroutines of s.pool (which
	// stay for the next batch). Each takes the batch's next entry itself
	// when it is done with one, so that fast handlers go through the batch
	// without a hand-off per entry; their outcomes come back here, where
	// they are settled one at a time, so that the acknowledgements, releases
	// and dead letters stay with the run goroutine (and its connection). It
	// is woken when outcomes arrive while it waits, and settles all that
	// have arrived.
	type job struct {
		m     goredis.XMessage
		count int64
	}
	type outcome struct {
		job
		err error
	}
	jobs := make([]job, 0, len(msgs))
	for _, m := range msgs {
		if count := countOf(m); s.admit(m, count) {
			jobs = append(jobs, job{m, count})
		}
	}
	workers := min(s.concurrency, len(jobs))
	var (
		mu       sync.Mutex
		next     int // jobs taken
		active   = workers
		outcomes []outcome
		waiting  bool // this goroutine waits for wake
		wake     = make(chan struct{}, 1)
	)
	// signal wakes this goroutine if it waits; mu is held.
	signal := func() {
		if waiting {
			waiting = false
			wake <- struct{}{}
		}
	}
	work := func() {
		for {
			mu.Lock()
			if next == len(jobs) || s.ctx.Err() != nil {
				active--
				signal()
				mu.Unlock()
				return
			}
			j := jobs[next]
			next++
			mu.Unlock()
			err := s.call(decode(j.m, j.count))
			mu.Lock()
			outcomes = append(outcomes, outcome{j, err})
			signal()
			mu.Unlock()
		}
	}
	for range workers {
		s.pool.Go(work)
	}
	var got []outcome
	for {
		mu.Lock()
		got, outcomes = outcomes, got[:0]
		ended, taken := active == 0, next
		if len(got) == 0 && !ended {
			waiting = true
		}
		mu.Unlock()
		for _, o := range got {
			s.settle(o.m, o.count, o.err)
		}
		if ended {
			// Every worker has returned, after reporting what it took.
			for _, j := range jobs[taken:] {
				s.leftover = append(s.leftover, pending{j.m.ID, j.count})
			}
			return
		}
		if len(got) == 0 {
			<-wake
		}
	}
}

// deliver makes delivery attempt count of entry m.
func (s *subscription) deliver(m goredis.XMessage, count int64) {
	if !s.admit(m, count) {
		return
	}
	s.settle(m, count, s.call(decode(m, count)))
}

// admit reports whether delivery attempt count of entry m is to call the
// handler. It drops an entry another consumer has claimed, and buries one
// delivered too often without answer.
func (s *subscription) admit(m goredis.XMessage, count int64) bool {
	if s.isLost(m.ID) {
		s.unhold(m.ID)
		return false
	}
	limit := int64(s.b.cfg.MaxDeliveries)
	if limit > 0 && count > limit {
		// Delivered that often and never answered: its handler may
		// crash the process every time.
		s.bury(m, count-1, fmt.Sprintf("delivered %d times without acknowledgement", count-1))
		return false
	}
	return true
}

// settle acts on err, the outcome of the handler call for delivery attempt
// count of entry m: it acknowledges, buries or hands the entry back.
func (s *subscription) settle(m goredis.XMessage, count int64, err error) {
	limit := int64(s.b.cfg.MaxDeliveries)
	switch {
	case err == nil:
		if len(s.acks) == 0 {
			s.ackSince = time.Now()
		}
		s.acks = append(s.acks, m.ID)
		if time.Since(s.ackSince) >= ackFlushDelay {
			if err := s.flushAcks(); err != nil {
				s.b.log.Warn("acknowledgement failed; sending it again later", "stream", s.stream, "group", s.group, "error", err)
			}
		}
	case limit > 0 && count >= limit:
		s.bury(m, count, err.Error())
	default:
		s.releases = append(s.releases, m.ID)
		due := time.Now().Add(time.Duration(s.b.cfg.RedeliveryDelay))
		s.dues = append(s.dues, due)
		if due.Before(s.nextClaim) {
			s.nextClaim = due
		}
	}
}

// bury moves entry m, delivered count times, to the dead-letter stream and
// acknowledges it, in one transaction.
func (s *subscription) bury(m goredis.XMessage, count int64, reason string) {
	defer s.unhold(m.ID)
	dead := s.stream + DeadLetterSuffix
	_, err := s.conn.TxPipelined(context.Background(), func(p goredis.Pipeliner) error {
		p.XAdd(context.Background(), s.b.xaddArgs(dead, deadLetter(m, s.group, count, reason)))
		p.XAck(context.Background(), s.stream, s.group, m.ID)
		return nil
	})
	if err != nil {
		// Still pending: claimed again after MinIdle, and buried then.
		s.b.log.Error("moving an entry to the dead-letter stream failed", "stream", s.stream, "group", s.group, "entry", m.ID, "error", err)
		return
	}
	s.b.log.Warn("entry moved to the dead-letter stream", "stream", s.stream, "group", s.group, "entry", m.ID, "dead_letter_stream", dead, "deliveries", count, "reason", reason)
}

// call runs the handler, turning a panic into an error.
func (s *subscription) call(msg *broker.Message) error {
	return brokerutil.Call(s.ctx, "broker/redis", s.h, msg)
}

func (s *subscription) hold(msgs []goredis.XMessage) {
	s.mu.Lock()
	for _, m := range msgs {
		s.held[m.ID] = &held{}
	}
	s.mu.Unlock()
}

func (s *subscription) unhold(ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.held, id)
	}
	s.mu.Unlock()
}

func (s *subscription) isLost(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.held[id]
	return h != nil && h.lost
}
