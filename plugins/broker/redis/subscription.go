package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
	backoff   time.Duration
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
			s.backoff = 0
			continue
		}
		s.fail(err)
	}
}

// step runs one claim round or one read.
func (s *subscription) step() error {
	if s.conn == nil {
		conn := s.b.client.Conn()
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
	s.backoff = min(max(2*s.backoff, minBackoff), maxBackoff)
	wait := s.backoff/2 + rand.N(s.backoff/2+1)
	s.b.log.Warn("subscription error; retrying", "stream", s.stream, "group", s.group, "error", err, "retry_in", wait)
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
func (s *subscription) call(msg *broker.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("broker/redis: handler panic: %w", e)
			} else {
				err = fmt.Errorf("broker/redis: handler panic: %v", r)
			}
		}
	}()
	return s.h(s.ctx, msg)
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
	defer s.b.forget(s)
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
