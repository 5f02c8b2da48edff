// Package direct is a broker.Broker without a broker server: a publisher
// delivers each message straight to the processes of its subscribers, over
// micro's transport, and finds them through a registry.Registry. With the
// local registry (core/registry/local) it connects the processes of one
// machine with nothing else running; with a network registry and a routable
// WithAddress, the processes of many.
//
// # Finding subscribers
//
// The first Subscribe of a Broker starts its transport server, listening on
// WithAddress (a free loopback port by default). Each subscription gets a
// random ID and is registered as one node of the registry service
// ServiceName(topic), "micro.broker." plus the escaped topic: the node's ID is
// the subscription ID, its Address the server's, its metadata the topic and
// queue group. The registration has a time to live (WithTTL) and is renewed
// every third of it; Unsubscribe and Close deregister it.
//
// Publish finds a topic's subscribers through a registry cache
// (core/registry/cache) that a watch keeps up to date, so once warm it does
// no registry I/O. The first Publish to a topic, and any Publish after this
// broker's own Subscribe or Unsubscribe, sees the registry as it is; a
// subscription made or ended in another process reaches the cache with the
// registry's watch latency (for the local registry, its poll interval). A
// subscription that ended meanwhile costs nothing: its server answers that it
// no longer has it, or, when no server answers, the registry itself is asked
// before the failure counts.
//
// # Delivery
//
// Publish looks up the subscribers, copies the message and returns, so a
// publisher is not held up by its slowest subscriber; the message is then
// delivered in the background, concurrently to each target:
// every subscriber without a queue group gets it, and each queue group gets
// it once, at a member picked round robin. A delivery is a request to the
// subscriber's server; the handler's return value is the response, so nil
// acknowledges the message and an error rejects it. A rejection, a panic, a
// handler still running after WithAckTimeout, or a subscriber that cannot be
// reached leads, after a short back-off, to another attempt: at the next
// member of a queue group (members that recently failed to answer come last),
// at the same subscriber otherwise. A message is given up on after
// WithMaxAttempts attempts at one target and handed to WithDeadLetter. Every
// delivery carries its attempt number in broker.DeliveryHeader. A
// subscription that ended since the lookup is skipped, without counting an
// attempt. PublishSync does the same but waits, and returns what became of
// the message.
//
// The guarantee is at-least-once delivery to every subscriber and queue
// group the publisher knows of when the message is published, provided one
// of its members acknowledges within the attempts and the publishing process
// does not stop first: messages in flight live in its memory only. A message is
// delivered twice when an acknowledgement is lost (a connection that drops
// after the handler ran, an ack timeout). A topic without subscribers drops
// the message, as core NATS does: there is no persistence, and a subscriber
// that is not registered when a message is published never sees it.
//
// # Handlers
//
// Handlers run on the subscriber's transport server, one goroutine per
// delivery, so the handler of one subscription may run concurrently with
// itself, and messages arrive in no particular order. By default the number
// of concurrent calls is unbounded (it follows the deliveries in flight);
// broker.Concurrency(n), n >= 1, makes n the most calls of the subscription
// that run at once (so Concurrency(1) is one at a time): a delivery beyond
// that waits on the subscriber's server for a call to return, and the wait
// counts toward its attempt's WithAckTimeout. The ctx a handler gets
// ends when the attempt's ack timeout passes, when the publisher abandons the
// message (Close, the ctx of PublishSync), when the connection drops, or when
// the ctx given to Unsubscribe or Close ends while they wait for handlers.
//
// # Limitations
//
// A message (body, headers and topic) must fit in one transport frame,
// transport.DefaultMaxFrameSize. Topics match exactly; there are no
// wildcards. A subscriber process that dies without unsubscribing stays
// registered until its TTL passes: deliveries to its queue groups move on to
// live members at once, but a message for it alone is retried and then given
// up on. Subscribers must be reachable at the address their server listens
// on.
package direct

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/cache"
	"github.com/seedmicro/micro/core/transport"
)

const (
	// Back-off before the next attempt: doubling from minBackoff up to
	// maxBackoff, with jitter.
	minBackoff = 10 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
	// maxSuspects bounds the addresses remembered as failing.
	maxSuspects = 1024
	// detachedTimeout bounds deregistration in Close once its ctx is done.
	detachedTimeout = time.Second
)

var _ broker.Broker = (*Broker)(nil)

// errGone marks a delivery to a subscription that no longer exists.
var errGone = errors.New("subscription gone")

// Broker is a broker.Broker that delivers straight to subscriber processes.
// Create one with New; it is safe for concurrent use. Close it to deregister
// its subscriptions and stop its goroutines.
type Broker struct {
	reg registry.Registry
	// cache serves lookups from memory; registrations go through it too,
	// so that this broker sees its own subscriptions at once.
	cache *cache.Cache
	cfg   config
	log   *slog.Logger
	pool  *transport.Pool

	ids brokerutil.IDs
	rr  atomic.Uint64 // round robin position, one step per message

	slots chan struct{} // one per background delivery in flight
	// life ends when Close starts: new work is refused and registrations
	// are no longer renewed.
	life    context.Context
	endLife context.CancelFunc
	// abort ends deliveries in flight; Close cancels it when its ctx ends
	// before they finish.
	abort    context.Context
	abortNow context.CancelFunc
	inflight sync.WaitGroup // deliveries, added to only while not closed

	startMu sync.Mutex // serializes starting the server

	mu     sync.RWMutex
	closed bool
	subs   map[string]*subscription // by ID
	ending []*subscription          // the subscriptions when Close was first called
	srv    *transport.Server
	addr   string
	wg     sync.WaitGroup // Serve and the refresh loop

	suspects suspects
}

// New returns a broker that finds subscribers in reg and announces its own
// there. Brokers see each other's subscriptions when they share the registry
// (for the local registry: the same directory). New starts nothing: the
// server starts with the first Subscribe. It panics if reg is nil.
func New(reg registry.Registry, opts ...Option) *Broker {
	if reg == nil {
		panic("direct: New with a nil registry")
	}
	cfg := config{
		address:     DefaultAddress,
		ttl:         DefaultTTL,
		maxAttempts: DefaultMaxAttempts,
		ackTimeout:  DefaultAckTimeout,
		maxInFlight: DefaultMaxInFlight,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.transport == nil {
		cfg.transport = transport.NewTCP()
	}
	log := cfg.logger
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{
		reg:   reg,
		cache: cache.New(reg),
		cfg:   cfg,
		log:   log.With("broker", "direct"),
		pool:  transport.NewPool(cfg.transport),
		slots: make(chan struct{}, cfg.maxInFlight),
		subs:  make(map[string]*subscription),
	}
	b.life, b.endLife = context.WithCancel(context.Background())
	b.abort, b.abortNow = context.WithCancel(context.Background())
	return b
}

// target is one recipient of a message: a subscriber without a queue
// group, or all members of one queue group.
type target struct {
	queue   string
	members []*registry.Node // sorted by ID
}

func (t *target) String() string {
	if t.queue == "" {
		return "subscriber " + t.members[0].ID + " at " + t.members[0].Address
	}
	return "queue group " + strconv.Quote(t.queue)
}

// Publish delivers msg to every subscriber of topic (to one member of each
// queue group). It looks the subscribers up, copies msg and returns; the
// delivery proceeds in the background, as the package documentation
// describes, and a message given up on goes to WithDeadLetter. msg is
// neither modified nor kept; when msg.ID is empty the delivered message gets
// a new unique ID. Without subscribers the message is dropped and Publish
// returns nil.
//
// Publish returns an error when the lookup fails. When WithMaxInFlight
// messages are on their way, it waits for one of them to finish, or for ctx
// to end. On a closed broker it returns broker.ErrClosed.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	targets, out, err := b.prepare(ctx, topic, msg, true)
	if err != nil || len(targets) == 0 {
		return err
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.life.Done():
		return broker.ErrClosed
	}
	dctx, done, err := b.track(context.WithoutCancel(ctx))
	if err != nil {
		<-b.slots
		return err
	}
	go func() {
		defer done()
		defer func() { <-b.slots }()
		for i, err := range b.deliverAll(dctx, topic, targets, out) {
			if err != nil {
				b.giveUp(topic, &targets[i], out, err)
			}
		}
	}()
	return nil
}

// PublishSync is Publish that waits: it returns nil once every subscriber
// and queue group of topic acknowledged msg (or left meanwhile), and
// otherwise an error for each one that did not, naming the topic and the
// subscriber or group and wrapping the error of the last attempt. It returns
// when ctx ends, with ctx's error. Without subscribers it returns nil.
// Nothing goes to WithDeadLetter: the caller learns the outcome.
//
// Callers that hold a broker.Broker can find it with a type assertion to
// interface{ PublishSync(context.Context, string, *broker.Message) error }.
func (b *Broker) PublishSync(ctx context.Context, topic string, msg *broker.Message) error {
	targets, out, err := b.prepare(ctx, topic, msg, false)
	if err != nil || len(targets) == 0 {
		return err
	}
	dctx, done, err := b.track(ctx)
	if err != nil {
		return err
	}
	defer done()
	errs := b.deliverAll(dctx, topic, targets, out)
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// prepare checks a publish, looks up its targets and copies the message.
func (b *Broker) prepare(ctx context.Context, topic string, msg *broker.Message, clone bool) ([]target, *outgoing, error) {
	switch {
	case topic == "":
		return nil, nil, errors.New("direct: publish: empty topic")
	case msg == nil:
		return nil, nil, errors.New("direct: publish: nil message")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return nil, nil, broker.ErrClosed
	}
	targets, err := b.lookup(ctx, topic)
	if err != nil || len(targets) == 0 {
		return nil, nil, err
	}
	id := msg.ID
	if id == "" {
		id = b.ids.New()
	}
	return targets, newOutgoing(id, msg, clone), nil
}

// track counts a delivery in flight, so that Close waits for it, and returns
// ctx, ended also by an aborting Close, with the function that ends it.
func (b *Broker) track(ctx context.Context) (context.Context, func(), error) {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, nil, broker.ErrClosed
	}
	b.inflight.Add(1)
	b.mu.RUnlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.abort, cancel)
	return ctx, func() {
		stop()
		cancel()
		b.inflight.Done()
	}, nil
}

// lookup returns the targets of topic, from the cache.
func (b *Broker) lookup(ctx context.Context, topic string) ([]target, error) {
	snap, err := b.cache.Snapshot(ctx, ServiceName(topic))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, nil
	case errors.Is(err, cache.ErrClosed):
		return nil, broker.ErrClosed
	case err != nil:
		return nil, fmt.Errorf("direct: publish to %q: look up subscribers: %w", topic, err)
	}
	svcs := snap.Services() // shared: read only
	var (
		targets []target
		groups  map[string]int // queue → index in targets
		seen    = make(map[string]bool)
	)
	for _, svc := range svcs {
		for _, n := range svc.Nodes {
			if n == nil || n.ID == "" || n.Address == "" || seen[n.ID] || n.Metadata[metaTopic] != topic {
				continue
			}
			seen[n.ID] = true
			q := n.Metadata[metaQueue]
			if q == "" {
				targets = append(targets, target{members: []*registry.Node{n}})
				continue
			}
			if i, ok := groups[q]; ok {
				targets[i].members = append(targets[i].members, n)
				continue
			}
			if groups == nil {
				groups = make(map[string]int)
			}
			groups[q] = len(targets)
			targets = append(targets, target{queue: q, members: []*registry.Node{n}})
		}
	}
	for _, t := range targets {
		slices.SortFunc(t.members, func(a, b *registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	}
	return targets, nil
}

// registered asks the registry itself, not the cache, whether subscription
// id of topic is still registered. On doubt it says yes.
func (b *Broker) registered(ctx context.Context, topic, id string) bool {
	svcs, err := b.reg.Lookup(ctx, ServiceName(topic))
	if errors.Is(err, registry.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	for _, svc := range svcs {
		for _, n := range svc.Nodes {
			if n != nil && n.ID == id {
				return true
			}
		}
	}
	return false
}

// deliverAll delivers m to every target at once and returns the outcome for
// each.
func (b *Broker) deliverAll(ctx context.Context, topic string, targets []target, m *outgoing) []error {
	start := b.rr.Add(1)
	errs := make([]error, len(targets))
	if len(targets) == 1 {
		errs[0] = b.deliver(ctx, topic, &targets[0], m, start)
		return errs
	}
	var wg sync.WaitGroup
	for i := range targets {
		wg.Go(func() { errs[i] = b.deliver(ctx, topic, &targets[i], m, start) })
	}
	wg.Wait()
	return errs
}

// deliver makes up to maxAttempts attempts to have one member of t
// acknowledge m, starting at member start (modulo their number). It returns
// nil when one did, or when every member turned out to be gone before any
// attempt failed.
func (b *Broker) deliver(ctx context.Context, topic string, t *target, m *outgoing, start uint64) error {
	members := b.suspects.order(t.members, start)
	var (
		last     error
		attempts int
		next     int
		failed   map[string]bool // addresses that did not answer this time
		checked  map[string]bool // subscriptions verified in the registry
	)
	for len(members) > 0 {
		i := pick(members, next, failed)
		n := members[i]
		attempts++
		err := b.send(ctx, n, m, attempts)
		if err == nil {
			b.suspects.clear(n.Address)
			return nil
		}
		if ctx.Err() != nil {
			return b.failure(topic, t, attempts, b.stopped(ctx))
		}
		_, unreachable := errors.AsType[*transport.Error](err)
		if unreachable && !checked[n.ID] {
			// The cache may be behind a subscriber that left: ask the
			// registry before the failure counts.
			if checked == nil {
				checked = make(map[string]bool)
			}
			checked[n.ID] = true
			if !b.registered(ctx, topic, n.ID) {
				err = errGone
			}
		}
		if errors.Is(err, errGone) {
			// Unsubscribed since the lookup: not an attempt, and not a
			// member any more. i now points at the next one.
			attempts--
			members = slices.Delete(members, i, i+1)
			next = i
			continue
		}
		last = err
		if t.queue != "" {
			last = fmt.Errorf("member %s at %s: %w", n.ID, n.Address, err)
		}
		if errors.Is(err, transport.ErrFrameTooLarge) || attempts >= b.cfg.maxAttempts {
			break
		}
		if unreachable {
			b.suspects.mark(n.Address, b.cfg.ttl)
			if failed == nil {
				failed = make(map[string]bool)
			}
			failed[n.Address] = true
		}
		b.log.Debug("delivery failed", "topic", topic, "target", t.String(), "attempt", attempts, "err", err)
		if sleep(ctx, retryPolicy.Delay(attempts)) != nil {
			return b.failure(topic, t, attempts, b.stopped(ctx))
		}
		next = i + 1
	}
	if last == nil {
		return nil
	}
	return b.failure(topic, t, attempts, last)
}

// pick returns the index of the member to try next: the first one from
// index next on (cyclically) whose address has not failed, else the one at
// next.
func pick(members []*registry.Node, next int, failed map[string]bool) int {
	next %= len(members)
	for k := range members {
		i := (next + k) % len(members)
		if !failed[members[i].Address] {
			return i
		}
	}
	return next
}

// stopped returns why the delivery ctx ended: broker.ErrClosed when Close
// abandoned it, ctx's error otherwise.
func (b *Broker) stopped(ctx context.Context) error {
	if b.abort.Err() != nil {
		return broker.ErrClosed
	}
	return ctx.Err()
}

func (b *Broker) failure(topic string, t *target, attempts int, err error) error {
	return fmt.Errorf("direct: publish to %q: %s: not acknowledged after %d attempts: %w", topic, t, attempts, err)
}

// send makes one delivery attempt of m to node n.
func (b *Broker) send(ctx context.Context, n *registry.Node, m *outgoing, attempt int) error {
	actx, cancel := context.WithTimeout(ctx, b.cfg.ackTimeout)
	defer cancel()
	err := func() error {
		conn, err := b.pool.Get(actx, n.Address)
		if err != nil {
			return err
		}
		f := m.frame(n.ID, attempt)
		if dl, ok := actx.Deadline(); ok {
			f.Timeout = max(time.Until(dl), time.Nanosecond)
		}
		rsp, err := conn.RoundTrip(actx, f)
		switch {
		case err != nil:
			return err
		case rsp.Code == uint32(merrors.NotFound):
			return errGone
		case rsp.Code != 0:
			return merrors.New(merrors.Code(rsp.Code), rsp.Message)
		}
		return nil
	}()
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = merrors.Errorf(merrors.DeadlineExceeded, "no acknowledgement within %v", b.cfg.ackTimeout)
	}
	return err
}

// giveUp hands a message that target t did not acknowledge to the dead
// letter function, or logs it.
func (b *Broker) giveUp(topic string, t *target, m *outgoing, err error) {
	if b.cfg.deadLetter != nil {
		b.cfg.deadLetter(topic, m.message(), err)
		return
	}
	b.log.Warn("message dropped", "topic", topic, "id", m.id, "target", t.String(), "err", err)
}

// retryPolicy gives the wait before the attempt after attempt number n.
var retryPolicy = backoff.Policy{Initial: minBackoff, Max: maxBackoff, Multiplier: 2, Jitter: 0.5}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the broker. It waits, until ctx ends, for the messages already
// published to be delivered (or given up on); then it unsubscribes every
// subscription (deregistering it and waiting for its handlers), stops the
// server and closes its connections. If ctx ends first, deliveries still in
// flight are abandoned (and go to WithDeadLetter with broker.ErrClosed),
// handlers' contexts are cancelled, and Close returns an error wrapping
// ctx's error. From the start of Close, Publish, PublishSync and Subscribe
// return broker.ErrClosed. Close may be called again, to wait again.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		b.endLife()
		for _, s := range b.subs {
			b.ending = append(b.ending, s)
		}
	}
	subs, srv := b.ending, b.srv
	b.mu.Unlock()

	var errs []error
	if err := b.drain(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, s := range subs {
		s.stop()
	}
	dctx := ctx
	if ctx.Err() != nil {
		// Deregistering matters more than keeping to ctx: publishers
		// would otherwise try the dead subscriptions until they expire.
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
		defer cancel()
	}
	for _, s := range subs {
		if err := s.deregister(dctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range subs {
		if err := s.wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("direct: close: handlers of %q still running: %w", s.topic, err))
			break
		}
	}
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("direct: close: stop server: %w", err))
		}
	}
	b.wg.Wait()
	b.pool.Close()
	b.cache.Close()
	return errors.Join(errs...)
}

// drain waits for deliveries in flight until ctx ends, then abandons them.
func (b *Broker) drain(ctx context.Context) error {
	if brokerutil.Wait(ctx, &b.inflight) == nil {
		return nil
	}
	b.abortNow()
	b.pool.Close() // unblocks writes to peers that stopped reading
	b.inflight.Wait()
	return fmt.Errorf("direct: close: deliveries in flight abandoned: %w", ctx.Err())
}

// suspects remembers the addresses that recently failed to answer, so that
// delivery to a queue group tries them last.
type suspects struct {
	n     atomic.Int32 // len(until), read without the lock
	mu    sync.Mutex
	until map[string]time.Time
}

func (s *suspects) mark(addr string, d time.Duration) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = make(map[string]time.Time)
	}
	if len(s.until) >= maxSuspects {
		for a, t := range s.until {
			if now.After(t) {
				delete(s.until, a)
			}
		}
		if len(s.until) >= maxSuspects {
			clear(s.until)
		}
	}
	s.until[addr] = now.Add(d)
	s.n.Store(int32(len(s.until)))
}

func (s *suspects) clear(addr string) {
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.until, addr)
	s.n.Store(int32(len(s.until)))
}

// order returns a copy of nodes rotated to start at index start (modulo
// their number), with the suspects moved to the end.
func (s *suspects) order(nodes []*registry.Node, start uint64) []*registry.Node {
	out := make([]*registry.Node, 0, len(nodes))
	k := int(start % uint64(len(nodes)))
	out = append(append(out, nodes[k:]...), nodes[:k]...)
	if len(out) < 2 || s.n.Load() == 0 {
		return out
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := func(n *registry.Node) int {
		if t, ok := s.until[n.Address]; ok && now.Before(t) {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(out, func(a, b *registry.Node) int { return cmp.Compare(bad(a), bad(b)) })
	return out
}
