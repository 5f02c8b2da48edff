// Package redis is a broker.Broker on Redis Streams, with consumer groups
// for at-least-once delivery.
//
// # Streams and groups
//
// Each topic is one stream, whose key is Config.Prefix followed by the
// topic ("micro:stream:orders"). Publish appends an entry with XADD, capped
// approximately at Config.MaxLen entries. Subscribers read with XREADGROUP:
// the members of a queue group (broker.Queue) are consumers of one consumer
// group named after the queue, so each entry goes to one of them; a
// subscriber without queue group gets a consumer group of its own, named
// "micro.ephemeral.<random>", which Unsubscribe deletes. A group is created
// at the end of the stream ("$") by the first Subscribe that needs it: it
// receives what is published from then on. A queue group outlives its
// members: entries published while none is subscribed wait in the stream
// for the next one (up to MaxLen).
//
// # Acknowledgement, redelivery and dead letters
//
// A handler that returns nil acknowledges its entry (XACK, sent with the
// subscription's next command). A handler that returns an error, or panics,
// rejects it: the entry stays pending in its group and is delivered again,
// to any member of the group, after Config.RedeliveryDelay. An entry read by
// a consumer that died is claimed by another member of the group with
// XAUTOCLAIM once it has been idle for Config.MinIdle; each subscription
// looks for such entries every Config.ClaimInterval. An entry delivered
// Config.MaxDeliveries times without acknowledgement is moved to the
// dead-letter stream "<stream>:dead", which is the stream of the topic
// "<topic>:dead": a subscriber may read it like any other. Every delivery
// carries its attempt number, Redis's delivery counter, in the header
// broker.DeliveryHeader.
//
// # Wire format
//
// An entry holds the field "body" (the message body), the field "id" (the
// message ID; when absent, the entry ID is the message ID) and one field
// "h:<name>" per header. Other fields are ignored. A message published
// without ID is written without "id" field, so it arrives with its entry ID.
// README.md shows how to publish and read with redis-cli.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// The fields of a stream entry.
const (
	// FieldID holds the message ID. Optional: an entry without it has its
	// entry ID as message ID.
	FieldID = "id"
	// FieldBody holds the message body. Optional: an entry without it has
	// an empty body.
	FieldBody = "body"
	// HeaderFieldPrefix starts the field of each header: header
	// "Content-Type" is the field "h:Content-Type".
	HeaderFieldPrefix = "h:"
)

// Dead letters.
const (
	// DeadLetterSuffix is appended to a stream key, or a topic, to name its
	// dead-letter stream: the dead letters of topic "orders" are the topic
	// "orders:dead".
	DeadLetterSuffix = ":dead"
	// HeaderDeadLetterGroup is the header of a dead letter that names the
	// consumer group that gave up on it.
	HeaderDeadLetterGroup = "Micro-Dead-Letter-Group"
	// HeaderDeadLetterEntry holds the ID of the entry in the original
	// stream.
	HeaderDeadLetterEntry = "Micro-Dead-Letter-Entry"
	// HeaderDeadLetterDeliveries holds how many times it was delivered.
	HeaderDeadLetterDeliveries = "Micro-Dead-Letter-Deliveries"
	// HeaderDeadLetterReason holds the error of the last handler call, or
	// says that the entry was delivered too often without an answer.
	HeaderDeadLetterReason = "Micro-Dead-Letter-Reason"
)

// EphemeralGroupPrefix starts the name of the consumer group of a
// subscriber without queue group.
const EphemeralGroupPrefix = "micro.ephemeral."

var _ broker.Broker = (*Broker)(nil)

// Broker is a broker.Broker on Redis Streams. Create it with New; it is safe
// for concurrent use. Close it to stop its subscriptions and release its
// connections.
type Broker struct {
	cfg    Config
	client *goredis.Client
	// reader is client with a read timeout above Block, for the
	// subscriptions' blocking reads; it shares client's pool.
	reader *goredis.Client
	owned  bool // client created by New, closed by Close
	log    *slog.Logger
	host   string // prefix of consumer names

	subs brokerutil.Subscriptions[*subscription]

	closeClient sync.Once
	closeErr    error

	// batches gathers concurrent Publish calls into pipelines.
	batches broker.Coalescer
}

// New connects to the Redis server of cfg.URL (or uses WithClient) and
// returns a Broker. It fails when cfg is invalid or the server does not
// answer a PING within ctx.
func New(ctx context.Context, cfg Config, opts ...Option) (*Broker, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, client: o.client, log: o.logger}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("plugin", "broker/redis")
	var err error
	if b.client, b.owned, err = cfg.Connection.Open(ctx, "broker/redis", DefaultClientName, b.client); err != nil {
		return nil, err
	}
	// Coalesce only once every connection of the pool is busy: below
	// that, each publish has a connection of its own and goes at once, as
	// with go-redis alone; above, the calls that would queue for a
	// connection go together in the next pipeline instead.
	b.reader = blockingReader(b.client, time.Duration(cfg.Block))
	b.batches = broker.Coalescer{PublishBatch: b.PublishBatch, Limit: max(b.client.Options().PoolSize, 1)}
	host, _ := os.Hostname()
	if host == "" {
		host = "micro"
	}
	b.host = host + "-" + strconv.Itoa(os.Getpid())
	return b, nil
}

// blockingReader returns the client a subscription reads with: c, whose
// read timeout bounds every reply, cannot wait for XREADGROUP BLOCK in a
// pipeline (go-redis applies the client's read timeout to a pipeline, not
// the longer one it gives a lone blocking command), so with Block at least
// the read timeout (both 5s by default) every idle read timed out, and the
// subscription logged an error and reconnected. The reader's timeout is
// Block plus c's own, on the same pool of connections. A client without a
// read timeout is used as it is.
func blockingReader(c *goredis.Client, block time.Duration) *goredis.Client {
	rt := c.Options().ReadTimeout
	if rt <= 0 {
		return c
	}
	return c.WithTimeout(block + rt)
}

// Client returns the go-redis client of the broker.
func (b *Broker) Client() *goredis.Client { return b.client }

// stream returns the key of the stream of topic.
func (b *Broker) stream(topic string) string { return b.cfg.Prefix + topic }

// Publish appends msg to the stream of topic and returns once Redis has
// stored it. msg is not modified or kept. The message ID is msg.ID, or the
// entry ID Redis assigns when msg.ID is empty. On a closed broker it
// returns broker.ErrClosed.
//
// Concurrent calls share round trips once they outnumber the client's
// connections (go-redis PoolSize): while that many publishes or pipelines
// of publishes are on their way, the calls made meanwhile wait and go
// together in the next pipeline (broker.Coalescer). A call whose ctx ends
// while it waits is not published.
func (b *Broker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	return b.batches.Publish(ctx, topic, msg)
}

var _ broker.BatchPublisher = (*Broker)(nil)

// PublishBatch publishes every publication as Publish does, in one
// pipeline: one write and one read on one connection for the whole batch.
// errs[i] is Publish's error for pubs[i].
func (b *Broker) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	if b.isClosed() {
		for i := range errs {
			errs[i] = broker.ErrClosed
		}
		return
	}
	var (
		cmds = make([]*goredis.StringCmd, len(pubs))
		pipe goredis.Pipeliner
	)
	if len(pubs) > 1 {
		pipe = b.client.Pipeline()
	}
	for i, p := range pubs {
		switch {
		case p.Topic == "":
			errs[i] = errors.New("broker/redis: publish: empty topic")
		case p.Message == nil:
			errs[i] = errors.New("broker/redis: publish: nil message")
		case pipe == nil: // one: a command of its own, not a pipeline
			cmds[i] = b.client.XAdd(ctx, b.xaddArgs(b.stream(p.Topic), encode(p.Message, nil)))
		default:
			cmds[i] = pipe.XAdd(ctx, b.xaddArgs(b.stream(p.Topic), encode(p.Message, nil)))
		}
	}
	if pipe != nil && pipe.Len() > 0 {
		pipe.Exec(ctx) // each command carries its own error
	}
	closed := b.isClosed()
	for i, c := range cmds {
		if c == nil {
			continue
		}
		switch err := c.Err(); {
		case err == nil:
			errs[i] = nil
		case closed:
			errs[i] = broker.ErrClosed
		default:
			errs[i] = fmt.Errorf("broker/redis: publish to %s: %w", pubs[i].Topic, err)
		}
	}
}

func (b *Broker) xaddArgs(stream string, values []any) *goredis.XAddArgs {
	a := &goredis.XAddArgs{Stream: stream, ID: "*", Values: values}
	if b.cfg.MaxLen > 0 {
		a.MaxLen, a.Approx = b.cfg.MaxLen, true
	}
	return a
}

// encode returns the fields of an entry holding msg, with extra headers.
func encode(msg *broker.Message, extra map[string]string) []any {
	values := make([]any, 0, 4+2*(len(msg.Header)+len(extra)))
	if msg.ID != "" {
		values = append(values, FieldID, msg.ID)
	}
	for k, v := range msg.Header {
		if _, ok := extra[k]; !ok {
			values = append(values, HeaderFieldPrefix+k, v)
		}
	}
	for k, v := range extra {
		values = append(values, HeaderFieldPrefix+k, v)
	}
	body := msg.Body
	if body == nil {
		body = []byte{}
	}
	return append(values, FieldBody, body)
}

// decode returns the message held by entry e, delivered for the count-th
// time.
func decode(e goredis.XMessage, count int64) *broker.Message {
	msg := &broker.Message{Header: make(map[string]string, len(e.Values)+1)}
	for k, v := range e.Values {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		switch {
		case k == FieldID:
			msg.ID = s
		case k == FieldBody:
			msg.Body = []byte(s)
		case strings.HasPrefix(k, HeaderFieldPrefix):
			msg.Header[k[len(HeaderFieldPrefix):]] = s
		}
	}
	if msg.ID == "" {
		msg.ID = e.ID
	}
	msg.Header[broker.DeliveryHeader] = strconv.FormatInt(count, 10)
	return msg
}

// Subscribe creates the consumer group of the subscription, if needed, and
// calls h for every entry the subscription receives until it is
// unsubscribed or the broker closed. With broker.Queue it joins the queue
// group of that name. ctx bounds only the call itself; the handler's ctx
// carries its values and is cancelled by Unsubscribe.
//
// Once Subscribe has returned, every message published to topic reaches the
// subscription. Handlers of one subscription run one at a time, unless
// broker.Concurrency(n) lets up to n calls run at once: the entries of each
// read are then handled concurrently, possibly out of order, and each read
// asks for at least n entries.
func (b *Broker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscription, error) {
	if topic == "" {
		return nil, errors.New("broker/redis: subscribe: empty topic")
	}
	if h == nil {
		return nil, errors.New("broker/redis: subscribe: nil handler")
	}
	if b.isClosed() {
		return nil, broker.ErrClosed
	}
	o := broker.NewSubscribeOptions(opts...)
	s := &subscription{
		b:           b,
		topic:       topic,
		stream:      b.stream(topic),
		group:       o.Queue,
		consumer:    b.host + "-" + randomHex(6),
		h:           h,
		exited:      make(chan struct{}),
		held:        make(map[string]*held),
		concurrency: max(o.Concurrency, 1),
	}
	if s.group == "" {
		s.group = EphemeralGroupPrefix + randomHex(8)
		s.ephemeral = true
	}
	b.reap(ctx, s.stream, s.group)
	if err := s.createGroup(ctx); err != nil {
		if b.isClosed() {
			return nil, broker.ErrClosed
		}
		return nil, fmt.Errorf("broker/redis: subscribe to %s: %w", topic, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))

	if !b.subs.Add(s, 2) {
		s.cancel()
		s.cleanup()
		return nil, broker.ErrClosed
	}
	runDone, keeperDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer b.subs.Done()
		defer close(keeperDone)
		s.keep(runDone)
	}()
	go func() {
		defer b.subs.Done()
		s.run()
		close(runDone)
		<-keeperDone
		s.cleanup()
		close(s.exited)
	}()
	return s, nil
}

// Close unsubscribes every subscription, waiting for handlers in progress
// until ctx is done, and makes Publish and Subscribe return
// broker.ErrClosed. Once the subscriptions have ended it closes the
// connections, unless the client came from WithClient. When ctx ends first,
// Close returns ctx.Err(); calling it again waits again.
func (b *Broker) Close(ctx context.Context) error {
	subs, _ := b.subs.Close()

	errs := make(chan error, len(subs))
	for _, s := range subs {
		go func() { errs <- s.Unsubscribe(ctx) }()
	}
	for range subs {
		if err := <-errs; err != nil {
			return err
		}
	}
	if err := b.subs.Wait(ctx); err != nil {
		return err
	}
	b.closeClient.Do(func() {
		if b.owned {
			if err := b.client.Close(); err != nil {
				b.closeErr = fmt.Errorf("broker/redis: close: %w", err)
			}
		}
	})
	return b.closeErr
}

func (b *Broker) isClosed() bool { return b.subs.Closed() }

// deadLetter returns the fields of the dead letter of entry e of group,
// delivered count times, given up on for reason.
func deadLetter(e goredis.XMessage, group string, count int64, reason string) []any {
	msg := decode(e, count)
	delete(msg.Header, broker.DeliveryHeader)
	extra := map[string]string{
		HeaderDeadLetterGroup:      group,
		HeaderDeadLetterEntry:      e.ID,
		HeaderDeadLetterDeliveries: strconv.FormatInt(count, 10),
		HeaderDeadLetterReason:     reason,
	}
	return encode(msg, extra) // with the ID it was delivered with, the entry ID if it had none
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
