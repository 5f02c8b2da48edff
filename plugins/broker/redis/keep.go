package redis

import (
	"context"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// keep touches the entries the subscription holds every MinIdle/3, so that
// no other consumer claims them while they wait or are handled, and marks
// those another consumer has claimed all the same (because this one was
// cut off for longer than MinIdle) as lost, so that they are not handled
// twice here. It returns when stop is closed.
func (s *subscription) keep(stop <-chan struct{}) {
	t := time.NewTicker(max(time.Duration(s.b.cfg.MinIdle)/3, time.Millisecond))
	defer t.Stop()
	lastAlive := time.Now() // createGroup set the mark
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if reap := time.Duration(s.b.cfg.ReapAfter); s.ephemeral && time.Since(lastAlive) >= reap/3 {
			ctx, cancel := context.WithTimeout(context.Background(), reap/3)
			err := s.b.client.Set(ctx, aliveKey(s.stream, s.group), 1, reap).Err()
			cancel()
			if err != nil {
				s.b.log.Warn("marking the subscription alive failed", "stream", s.stream, "group", s.group, "error", err)
			} else {
				lastAlive = time.Now()
			}
		}
		s.mu.Lock()
		held := make([]string, 0, len(s.held))
		for id, h := range s.held {
			if !h.lost {
				held = append(held, id)
			}
		}
		s.mu.Unlock()
		if len(held) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.b.cfg.MinIdle)/3)
		owned, err := s.touch(ctx, held)
		cancel()
		if err != nil {
			s.b.log.Warn("keeping entries failed", "stream", s.stream, "group", s.group, "error", err)
			continue
		}
		s.mu.Lock()
		for _, id := range held {
			if _, ok := owned[id]; !ok {
				if h := s.held[id]; h != nil {
					h.lost = true
				}
			}
		}
		s.mu.Unlock()
	}
}

// touch resets the idle time of the entries ids still pending for this
// consumer and returns them.
func (s *subscription) touch(ctx context.Context, ids []string) (map[string]struct{}, error) {
	args := make([]any, 0, 5+len(ids))
	args = append(args, s.group, s.consumer, s.consumer, 0, -1)
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := reclaimScript.Run(ctx, s.b.client, []string{s.stream}, args...).StringSlice()
	if err != nil {
		return nil, err
	}
	owned := make(map[string]struct{}, len(res))
	for _, id := range res {
		owned[id] = struct{}{}
	}
	return owned, nil
}

// cleanup runs once the subscription has stopped: it deletes the consumer
// group of a subscriber without queue group; a member of a queue group
// sends its last acknowledgements, hands the entries it received and did
// not handle back to the group (parking them with parkingConsumer), and
// deletes its consumer unless entries it could not hand back remain.
func (s *subscription) cleanup() {
	defer s.b.subs.Remove(s)
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	c := s.b.client
	if s.ephemeral {
		if err := c.XGroupDestroy(ctx, s.stream, s.group).Err(); err != nil {
			s.b.log.Warn("deleting the consumer group failed; a later Subscribe reaps it", "stream", s.stream, "group", s.group, "error", err)
		}
		c.Del(ctx, aliveKey(s.stream, s.group)) // else it expires
		return
	}
	if len(s.acks) > 0 {
		if err := c.XAck(ctx, s.stream, s.group, s.acks...).Err(); err != nil {
			s.b.log.Warn("final acknowledgements failed; the entries will be delivered again", "stream", s.stream, "group", s.group, "error", err)
		}
	}
	cfg := &s.b.cfg
	idle := max(time.Duration(cfg.MinIdle)-time.Duration(cfg.RedeliveryDelay), 0)
	if err := s.reclaim(ctx, c, parkingConsumer, idle, -1, s.releases); err != nil {
		s.b.log.Warn("handing rejected entries back failed; they are claimed after MinIdle", "stream", s.stream, "group", s.group, "error", err)
	}
	// Entries received and never handled: claimable at once, with their
	// delivery counter as it was before they came here.
	byCount := make(map[int64][]string)
	for _, p := range s.leftover {
		byCount[p.count-1] = append(byCount[p.count-1], p.id)
	}
	for count, ids := range byCount {
		if err := s.reclaim(ctx, c, parkingConsumer, time.Duration(cfg.MinIdle), count, ids); err != nil {
			s.b.log.Warn("handing unhandled entries back failed; they are claimed after MinIdle", "stream", s.stream, "group", s.group, "error", err)
		}
	}
	// A consumer that holds nothing is of no further use.
	p, err := c.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: s.stream, Group: s.group, Start: "-", End: "+", Count: 1, Consumer: s.consumer,
	}).Result()
	if err == nil && len(p) == 0 {
		err = c.XGroupDelConsumer(ctx, s.stream, s.group, s.consumer).Err()
	}
	if err != nil {
		s.b.log.Warn("deleting the consumer failed; a later Subscribe reaps it", "stream", s.stream, "group", s.group, "consumer", s.consumer, "error", err)
	}
}

// aliveKey is the key that a subscriber without queue group keeps, with a
// time to live of ReapAfter, for as long as it runs: "<stream>:alive:<group>".
// A consumer's idle time alone does not tell a quiet subscriber from a dead
// one: before Redis 7.2 a read that returns nothing does not reset it.
func aliveKey(stream, group string) string { return stream + ":alive:" + group }

// reap deletes what subscribers that died without unsubscribing left in
// stream: consumer groups of subscribers without queue group whose alive
// key has expired and whose consumers are idle for ReapAfter, and consumers
// of the queue group join idle that long that hold no entries. Errors are
// only logged.
func (b *Broker) reap(ctx context.Context, stream, join string) {
	groups, err := b.client.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if !strings.Contains(err.Error(), "no such key") {
			b.log.Warn("listing consumer groups failed", "stream", stream, "error", err)
		}
		return
	}
	var names []string
	for _, g := range groups {
		if strings.HasPrefix(g.Name, EphemeralGroupPrefix) || g.Name == join {
			names = append(names, g.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	cmds := make([]*goredis.XInfoConsumersCmd, len(names))
	alive := make([]*goredis.IntCmd, len(names))
	b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = p.XInfoConsumers(ctx, stream, name)
			alive[i] = p.Exists(ctx, aliveKey(stream, name))
		}
		return nil
	})
	after := time.Duration(b.cfg.ReapAfter)
	for i, name := range names {
		consumers, err := cmds[i].Result()
		if err != nil {
			continue
		}
		if name == join {
			for _, c := range consumers {
				if c.Pending == 0 && c.Idle > after {
					b.client.XGroupDelConsumer(ctx, stream, name, c.Name)
				}
			}
			continue
		}
		if n, err := alive[i].Result(); err != nil || n > 0 {
			continue // alive, or unknown
		}
		idle := len(consumers) > 0
		for _, c := range consumers {
			idle = idle && c.Idle > after
		}
		if idle {
			b.log.Info("deleting the consumer group of a subscriber gone for "+after.String(), "stream", stream, "group", name)
			b.client.XGroupDestroy(ctx, stream, name)
		}
	}
}
