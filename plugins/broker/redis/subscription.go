package redis

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/gopool"
)

// Internal timing.
const (
	// ackFlushDelay is how long an acknowledgement may wait to be sent with
	// the subscription's next read before it is sent on its own.
	ackFlushDelay = 50 * time.Millisecond
	// cleanupTimeout bounds the commands a subscription sends as it ends.
	cleanupTimeout = 5 * time.Second
	// unblockEvery is how often Unsubscribe interrupts a blocking read
	// until the subscription has ended.
	unblockEvery = 10 * time.Millisecond
	minBackoff   = 50 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// retryPolicy is the wait after a failed step: doubling from minBackoff up
// to maxBackoff, each wait drawn between half of it and all of it.
var retryPolicy = backoff.Policy{Initial: minBackoff, Max: maxBackoff, Multiplier: 2, Jitter: 0.5}

// reclaimScript claims for consumer ARGV[3] the pending entries ARGV[6:]
// of group ARGV[1] of stream KEYS[1] that belong to consumer ARGV[2],
// leaving alone those claimed by another consumer meanwhile, and sets their
// idle time to ARGV[4] milliseconds and, unless ARGV[5] is negative, their
// delivery counter to ARGV[5]. It returns the IDs it claimed. Claimed by
// their owner with idle 0, entries are kept from being claimed by others;
// claimed with a larger idle, they are handed back to the group: XAUTOCLAIM
// of any member takes them once they have been idle for MinIdle.
var reclaimScript = goredis.NewScript(`
local owned = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if p[1] ~= nil and p[1][2] == ARGV[2] then
    if tonumber(ARGV[5]) >= 0 then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, id, 'IDLE', ARGV[4], 'RETRYCOUNT', ARGV[5], 'JUSTID')
    else
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, id, 'IDLE', ARGV[4], 'JUSTID')
    end
    owned[#owned + 1] = id
  end
end
return owned
`)

// parkingConsumer is the consumer that holds the entries a member of a
// queue group hands back as it leaves, until another member claims them.
const parkingConsumer = "micro.parked"

// subscription is one consumer of a consumer group. Its run goroutine
// reads, claims and handles entries; its keeper goroutine keeps the entries
// it holds from being claimed by other consumers.
type subscription struct {
	b         *Broker
	topic     string
	stream    string
	group     string
	consumer  string
	ephemeral bool
	h         broker.Handler
	// concurrency is the most handler calls that run at once (at least 1).
	concurrency int
	// pool runs the handler calls when concurrency > 1; the run
	// goroutine closes it once it has returned, and every call with it.
	pool gopool.Pool

	ctx    context.Context // the handlers' ctx; cancelled by Unsubscribe
	cancel context.CancelFunc
	exited chan struct{} // closed once everything has stopped

	// blocking is the CLIENT ID of the connection while it waits in
	// XREADGROUP BLOCK, 0 otherwise.
	blocking atomic.Int64

	mu   sync.Mutex
	held map[string]*held // entries delivered to this consumer, not yet acknowledged

	// Owned by the run goroutine. Handler calls running concurrently
	// (concurrency > 1) touch none of it: they hand their outcome back to
	// the run goroutine, which settles it.
	conn      *goredis.Conn
	connID    int64
	acks      []string  // acknowledged, not yet sent
	ackSince  time.Time // when the oldest of acks was added
	releases  []string  // rejected, to hand back to the group
	leftover  []pending // received but not handled when the subscription ended
	cursor    string    // XAUTOCLAIM cursor of the claim round in progress
	nextClaim time.Time
	dues      []time.Time // when rejected entries become claimable
	failures  int         // failed steps in a row
}

// held is the state of an entry a subscription holds.
type held struct {
	// lost is set when another consumer has claimed the entry.
	lost bool
}

// pending is an entry and its delivery counter.
type pending struct {
	id    string
	count int64
}

// Topic returns the subscribed topic.
func (s *subscription) Topic() string { return s.topic }

// Unsubscribe stops deliveries, cancels the handler's ctx and waits until
// the handler calls in progress, if any, have returned and the subscription has
// sent its last acknowledgements, or until ctx is done. A subscriber
// without queue group deletes its consumer group; a member of a queue group
// hands the entries it received but did not handle back to the group.
// Unsubscribing again returns nil once that is done.
func (s *subscription) Unsubscribe(ctx context.Context) error {
	s.cancel()
	t := time.NewTicker(unblockEvery)
	defer t.Stop()
	for {
		if id := s.blocking.Load(); id != 0 {
			// The read may not have reached the server yet; retried on
			// the next tick.
			s.b.client.ClientUnblock(ctx, id)
		}
		select {
		case <-s.exited:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// createGroup creates the consumer group of s at the end of its stream, and
// the stream, unless they exist, and registers the consumer.
func (s *subscription) createGroup(ctx context.Context) error {
	cmds, err := s.b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.XGroupCreateMkStream(ctx, s.stream, s.group, "$")
		p.XGroupCreateConsumer(ctx, s.stream, s.group, s.consumer)
		if s.ephemeral {
			p.Set(ctx, aliveKey(s.stream, s.group), 1, time.Duration(s.b.cfg.ReapAfter))
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if len(cmds) < 2 {
		return err
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
			return err
		}
	}
	return nil
}

// run reads, claims and handles entries until the subscription ends.
func (s *subscription) run() {
	defer s.closeConn()
	defer s.pool.Close()
	for s.ctx.Err() == nil {
		err := s.step()
		if err == nil {
			s.failures = 0
			continue
		}
		s.fail(err)
	}
}

// step runs one claim round or one read.
func (s *subscription) step() error {
	if s.conn == nil {
		conn := s.b.reader.Conn()
		id, err := conn.ClientID(context.Background()).Result()
		if err != nil {
			conn.Close()
			return err
		}
		s.conn, s.connID = conn, id
	}
	now := time.Now()
	if !now.Before(s.nextClaim) {
		return s.claim(now)
	}
	return s.read(min(time.Duration(s.b.cfg.Block), s.nextClaim.Sub(now)))
}

// fail reacts to an error of step: it logs it, drops the connection unless
// the server answered, recreates a consumer group that was deleted, and
// waits a little.
func (s *subscription) fail(err error) {
	if s.ctx.Err() != nil {
		return
	}
	var rerr goredis.Error
	switch {
	case goredis.HasErrorPrefix(err, "NOGROUP"):
		s.b.log.Warn("consumer group or stream deleted; creating it again", "stream", s.stream, "group", s.group)
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		if cerr := s.createGroup(ctx); cerr != nil {
			err = cerr
		}
		cancel()
	case !errors.As(err, &rerr) || isNetError(err):
		s.closeConn()
	}
	s.failures++
	wait := retryPolicy.Delay(s.failures)
	s.b.log.Warn("subscription error; retrying", "stream", s.stream, "group", s.group, "error", err, "retry_in", wait.String())
	select {
	case <-s.ctx.Done():
	case <-time.After(wait):
	}
}

func isNetError(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr)
}

func (s *subscription) closeConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn, s.connID = nil, 0
	}
}
