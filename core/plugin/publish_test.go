package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
)

// gateBroker's Publish fails on topic "closed" with broker.ErrClosed, on
// topic "bad" with an error of its own, blocks on topic "block" until its
// ctx ends, and takes anything else. Topic "last-block" fails with how the
// last block ended, for a test across a process boundary to see it.
type gateBroker struct {
	broker.Broker
	mu        sync.Mutex
	lastBlock error
	maxBatch  int
}

func (b *gateBroker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	switch topic {
	case "closed":
		return broker.ErrClosed
	case "bad":
		return errors.New("bad topic " + string(msg.Body))
	case "block":
		<-ctx.Done()
		b.mu.Lock()
		b.lastBlock = ctx.Err()
		b.mu.Unlock()
		return ctx.Err()
	case "last-block": // and forget it
		b.mu.Lock()
		defer b.mu.Unlock()
		err := fmt.Errorf("last block: %v", b.lastBlock)
		b.lastBlock = nil
		return err
	case "max-batch":
		b.mu.Lock()
		defer b.mu.Unlock()
		return fmt.Errorf("max batch: %d", b.maxBatch)
	}
	return nil
}

func (b *gateBroker) Close(context.Context) error { return nil }

// batchGateBroker is a gateBroker that publishes batches, each message as
// gateBroker.Publish does, all at once, and records the largest batch.
type batchGateBroker struct{ gateBroker }

func (b *batchGateBroker) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	b.mu.Lock()
	b.maxBatch = max(b.maxBatch, len(pubs))
	b.mu.Unlock()
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Go(func() { errs[i] = b.Publish(ctx, p.Topic, p.Message) })
	}
	wg.Wait()
}

func init() {
	testPlugins["gate-broker"] = func() plugin.Plugin { return plugin.Broker(&gateBroker{}) }
	testPlugins["batch-gate-broker"] = func() plugin.Plugin { return plugin.Broker(&batchGateBroker{}) }
}

// gateModes are the ways the publish tests reach the gate brokers: over
// gRPC in process, and over the data link of a plugin process.
func eachGate(t *testing.T, test func(t *testing.T, b broker.Broker)) {
	for _, serve := range []string{"gate-broker", "batch-gate-broker"} {
		for _, m := range modes {
			t.Run(serve+"/"+m.name, func(t *testing.T) {
				c := m.open(t, plugin.KindBroker, serve)
				b := c.Broker()
				defer b.Close(context.Background())
				test(t, b)
				if m.name == "child-process" {
					if served, used := plugin.DataLink(c); !served || !used {
						t.Errorf("data link served %v, used %v; want both", served, used)
					}
				}
			})
		}
	}
}

// TestPublishConcurrent publishes from many goroutines at once, over the
// one stream Publish uses: each call gets its own result.
func TestPublishConcurrent(t *testing.T) {
	eachGate(t, testPublishConcurrent)
}

func testPublishConcurrent(t *testing.T, b broker.Broker) {
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				body := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				msg := &broker.Message{Body: []byte(body)}
				switch i % 3 {
				case 0:
					if err := b.Publish(t.Context(), "t", msg); err != nil {
						t.Errorf("Publish: %v", err)
					}
				case 1:
					if err := b.Publish(t.Context(), "closed", msg); !errors.Is(err, broker.ErrClosed) {
						t.Errorf("Publish to closed = %v, want broker.ErrClosed", err)
					}
				case 2:
					err := b.Publish(t.Context(), "bad", msg)
					if err == nil || err.Error() != "bad topic "+body {
						t.Errorf("Publish to bad = %v, want bad topic %s", err, body)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestPublishCancel: a Publish whose ctx ends returns the ctx's error at
// once, and the plugin's Publish sees its ctx end.
func TestPublishCancel(t *testing.T) {
	eachGate(t, testPublishCancel)
}

// lastBlock waits until the plugin's last blocked Publish ended with one
// of want.
func lastBlock(t *testing.T, b broker.Broker, want ...error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.Publish(t.Context(), "last-block", &broker.Message{})
		for _, w := range want {
			if err != nil && err.Error() == "last block: "+w.Error() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's Publish ctx: %v, want it ended with %v", err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testPublishCancel(t *testing.T, b broker.Broker) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := b.Publish(ctx, "block", &broker.Message{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish = %v, want context.DeadlineExceeded", err)
	}
	// The deadline, or the host's cancellation sent when it passed: which
	// comes first in the plugin is a race.
	lastBlock(t, b, context.DeadlineExceeded, context.Canceled)
	// Without a deadline, the cancellation reaches the plugin.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := b.Publish(ctx, "block", &broker.Message{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish = %v, want context.Canceled", err)
	}
	lastBlock(t, b, context.Canceled)
	// The stream still works.
	if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
		t.Errorf("Publish after a cancelled one: %v", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, "t", &broker.Message{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a done ctx = %v, want context.Canceled", err)
	}
}

// TestPublishBatches: calls made together reach a broker.BatchPublisher
// together, in process and across the data link.
func TestPublishBatches(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := m.open(t, plugin.KindBroker, "batch-gate-broker")
			b := c.Broker()
			defer b.Close(context.Background())
			// 64 publishers, each blocking until the others are
			// waiting: at least some of the calls go together.
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for range 50 {
						if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte("x")}); err != nil {
							t.Errorf("Publish: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			err := b.Publish(t.Context(), "max-batch", &broker.Message{})
			var n int
			if _, scanErr := fmt.Sscanf(fmt.Sprint(err), "max batch: %d", &n); scanErr != nil || n < 2 {
				t.Errorf("largest batch: %v; want more than one call in some batch", err)
			}
			t.Logf("largest batch: %d calls", n)
		})
	}
}
