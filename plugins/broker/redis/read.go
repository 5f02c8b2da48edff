package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// queueAcks adds the acknowledgements waiting to be sent to p.
func (s *subscription) queueAcks(p goredis.Pipeliner) *goredis.IntCmd {
	if len(s.acks) == 0 {
		return nil
	}
	return p.XAck(context.Background(), s.stream, s.group, s.acks...)
}

// acked handles the result of queueAcks: acknowledgements that reached the
// server are forgotten.
func (s *subscription) acked(cmd *goredis.IntCmd) error {
	if cmd == nil {
		return nil
	}
	err := cmd.Err()
	var rerr goredis.Error
	if err != nil && (!errors.As(err, &rerr) || isNetError(err)) {
		return err // not sent; sent again next time
	}
	s.unhold(s.acks...)
	s.acks = s.acks[:0]
	if err != nil {
		return err
	}
	return nil
}

// flushAcks sends the acknowledgements waiting to be sent.
func (s *subscription) flushAcks() error {
	var cmd *goredis.IntCmd
	_, err := s.conn.Pipelined(context.Background(), func(p goredis.Pipeliner) error {
		cmd = s.queueAcks(p)
		return nil
	})
	if aerr := s.acked(cmd); aerr != nil {
		return aerr
	}
	return err
}

// flushReleases hands the entries rejected by the handler back to the
// group, claimable after RedeliveryDelay.
func (s *subscription) flushReleases() error {
	if len(s.releases) == 0 {
		return nil
	}
	cfg := &s.b.cfg
	idle := max(time.Duration(cfg.MinIdle)-time.Duration(cfg.RedeliveryDelay), 0)
	err := s.reclaim(context.Background(), s.conn, s.consumer, idle, -1, s.releases)
	if err != nil {
		return err
	}
	s.unhold(s.releases...)
	s.releases = s.releases[:0]
	return nil
}

// reclaim runs reclaimScript for ids on c, claiming them for to.
func (s *subscription) reclaim(ctx context.Context, c goredis.Scripter, to string, idle time.Duration, retryCount int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 5+len(ids))
	args = append(args, s.group, s.consumer, to, idle.Milliseconds(), retryCount)
	for _, id := range ids {
		args = append(args, id)
	}
	return reclaimScript.Run(ctx, c, []string{s.stream}, args...).Err()
}

// batch is the most entries one read or claim returns: Prefetch, and at
// least enough to keep every concurrent handler call busy.
func (s *subscription) batch() int64 {
	return int64(max(s.b.cfg.Prefetch, s.concurrency))
}

// read flushes acknowledgements and reads new entries, waiting up to block
// for them.
func (s *subscription) read(block time.Duration) error {
	if err := s.flushReleases(); err != nil {
		return err
	}
	block = max(block, time.Millisecond)
	var (
		ack  *goredis.IntCmd
		read *goredis.XStreamSliceCmd
	)
	s.blocking.Store(s.connID)
	if s.ctx.Err() != nil {
		s.blocking.Store(0)
		return nil
	}
	s.conn.Pipelined(context.Background(), func(p goredis.Pipeliner) error {
		ack = s.queueAcks(p)
		read = p.XReadGroup(context.Background(), &goredis.XReadGroupArgs{
			Group:    s.group,
			Consumer: s.consumer,
			Streams:  []string{s.stream, ">"},
			Count:    s.batch(),
			Block:    block,
		})
		return nil
	})
	s.blocking.Store(0)
	if err := s.acked(ack); err != nil {
		return err
	}
	streams, err := read.Result()
	if errors.Is(err, goredis.Nil) {
		return nil // nothing arrived, or Unsubscribe interrupted the wait
	}
	if err != nil {
		return err
	}
	for _, st := range streams {
		s.handleAll(st.Messages, nil)
	}
	return nil
}

// claim runs one step of a claim round: it claims entries of the group
// idle for MinIdle, as XAUTOCLAIM finds them from the round's cursor, and
// handles them.
func (s *subscription) claim(now time.Time) error {
	if err := s.flushReleases(); err != nil {
		return err
	}
	if s.cursor == "" {
		s.cursor = "0-0"
		// Rejected entries claimable by now are found by this round.
		for len(s.dues) > 0 && !s.dues[0].After(now) {
			s.dues = s.dues[1:]
		}
	}
	var (
		ack   *goredis.IntCmd
		claim *goredis.XAutoClaimCmd
	)
	s.conn.Pipelined(context.Background(), func(p goredis.Pipeliner) error {
		ack = s.queueAcks(p)
		claim = p.XAutoClaim(context.Background(), &goredis.XAutoClaimArgs{
			Stream:   s.stream,
			Group:    s.group,
			Consumer: s.consumer,
			MinIdle:  time.Duration(s.b.cfg.MinIdle),
			Start:    s.cursor,
			Count:    s.batch(),
		})
		return nil
	})
	if err := s.acked(ack); err != nil {
		return err
	}
	msgs, next, err := claim.Result()
	if err != nil {
		return err
	}
	if next == "0-0" || next == "" {
		s.cursor = ""
		s.nextClaim = time.Now().Add(time.Duration(s.b.cfg.ClaimInterval))
		if len(s.dues) > 0 && s.dues[0].Before(s.nextClaim) {
			s.nextClaim = s.dues[0]
		}
	} else {
		s.cursor = next // more to look at: go on at once
	}
	if len(msgs) == 0 {
		return nil
	}
	s.hold(msgs)
	counts, err := s.deliveryCounts(msgs)
	if err != nil {
		// Still held: the keeper keeps them, and they are handed back
		// when the subscription ends. Let another round find them.
		s.unhold(ids(msgs)...)
		return err
	}
	s.handleAll(msgs, counts)
	return nil
}

// deliveryCounts returns the delivery counter of each claimed entry.
func (s *subscription) deliveryCounts(msgs []goredis.XMessage) (map[string]int64, error) {
	cmds := make([]*goredis.XPendingExtCmd, len(msgs))
	_, err := s.conn.Pipelined(context.Background(), func(p goredis.Pipeliner) error {
		for i, m := range msgs {
			cmds[i] = p.XPendingExt(context.Background(), &goredis.XPendingExtArgs{
				Stream: s.stream, Group: s.group, Start: m.ID, End: m.ID, Count: 1,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int64, len(msgs))
	for i, c := range cmds {
		if p := c.Val(); len(p) == 1 {
			counts[msgs[i].ID] = p[0].RetryCount
		}
	}
	return counts, nil
}

func ids(msgs []goredis.XMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}
