package nats_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

// nothingLostMessages is how many messages TestNothingLost sends.
const nothingLostMessages = 100_000

// TestNothingLost sends nothingLostMessages messages in JetStream mode to a
// queue group served by two consumer processes (brokers), while the
// publisher's connection is cut three times, both consumers' connections are
// cut three times, and one consumer is killed mid-stream (its network gone
// for good, then closed, its unacknowledged messages left to AckWait). Every
// message ID must reach a handler at least once; duplicates are counted and
// logged.
func TestNothingLost(t *testing.T) {
	cfg := testConfig(t, micronats.ModeJetStream)
	cfg.StreamStorage = "file"
	cfg.AckWait = micronats.Duration(2 * time.Second)
	cfg.MaxDeliver = -1
	cfg.Prefetch = 128
	cfg.MaxAckPending = 4096
	cfg.ReconnectWait = micronats.Duration(100 * time.Millisecond)

	pubProxy, proxy1, proxy2 := newProxy(t), newProxy(t), newProxy(t)
	withURL := func(u string) micronats.Config { c := cfg; c.URL = u; return c }
	pub := newBroker(t, withURL(pubProxy.URL()))
	consumer1 := newBroker(t, withURL(proxy1.URL()))
	consumer2 := newBroker(t, withURL(proxy2.URL()))

	const topic = "orders.created"
	var (
		counts   = make([]atomic.Int32, nothingLostMessages)
		distinct atomic.Int64
		total    atomic.Int64
		bad      atomic.Int64
	)
	handler := func(_ context.Context, msg *broker.Message) error {
		i, err := strconv.Atoi(strings.TrimPrefix(msg.ID, "msg-"))
		if err != nil || i < 0 || i >= nothingLostMessages || string(msg.Body) != msg.ID {
			bad.Add(1)
			return nil
		}
		total.Add(1)
		if counts[i].Add(1) == 1 {
			distinct.Add(1)
		}
		return nil
	}
	for _, b := range []*micronats.Broker{consumer1, consumer2} {
		for range 2 {
			brokertest.Subscribe(t, b, topic, handler, broker.Queue("workers"))
		}
	}

	// Chaos, driven by progress: cut the publisher at 15, 35 and 55 % of
	// the messages published, the consumers at 25, 45 and 65 % of the
	// messages delivered, and kill consumer 1 at 50 %.
	var (
		published atomic.Int64
		cuts      sync.WaitGroup
		events    []string
		eventsMu  sync.Mutex
	)
	logEvent := func(format string, args ...any) {
		eventsMu.Lock()
		events = append(events, fmt.Sprintf(format, args...))
		eventsMu.Unlock()
	}
	stop := make(chan struct{})
	cuts.Go(func() {
		pubAt := []int64{15, 35, 55}
		consAt := []int64{25, 45, 65}
		killed := false
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for len(pubAt)+len(consAt) > 0 || !killed {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p := published.Load() * 100 / nothingLostMessages
			d := distinct.Load() * 100 / nothingLostMessages
			if len(pubAt) > 0 && p >= pubAt[0] {
				logEvent("cut the publisher at %d%% published: %d connections", p, pubProxy.Cut())
				pubAt = pubAt[1:]
			}
			if len(consAt) > 0 && d >= consAt[0] {
				logEvent("cut the consumers at %d%% delivered: %d + %d connections", d, proxy1.Cut(), proxy2.Cut())
				consAt = consAt[1:]
			}
			if !killed && d >= 50 {
				killed = true
				proxy1.Kill()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				consumer1.Close(ctx) // its network is gone: acks and naks are lost
				cancel()
				logEvent("killed consumer 1 at %d%% delivered", d)
			}
		}
	})

	// Eight publishers; a Publish that fails is tried again with the same
	// ID, as an application would, and the stream drops the duplicates.
	start := time.Now()
	var (
		next      atomic.Int64
		pubErrors atomic.Int64
		pubs      sync.WaitGroup
	)
	for range 8 {
		pubs.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= nothingLostMessages {
					return
				}
				id := "msg-" + strconv.FormatInt(i, 10)
				msg := &broker.Message{ID: id, Body: []byte(id)}
				for {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					err := pub.Publish(ctx, topic, msg)
					cancel()
					if err == nil {
						break
					}
					if t.Context().Err() != nil {
						return
					}
					if pubErrors.Add(1) <= 5 {
						t.Logf("Publish %s: %v (trying again)", id, err)
					}
				}
				published.Add(1)
			}
		})
	}
	pubs.Wait()
	t.Logf("published %d messages in %v", nothingLostMessages, time.Since(start).Round(time.Millisecond))

	deadline := time.Now().Add(5 * time.Minute)
	for distinct.Load() < nothingLostMessages && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	cuts.Wait()
	for _, e := range events {
		t.Log(e)
	}

	missing := 0
	dups := 0
	for i := range counts {
		switch n := counts[i].Load(); {
		case n == 0:
			if missing++; missing <= 10 {
				t.Errorf("message msg-%d never delivered", i)
			}
		case n > 1:
			dups += int(n - 1)
		}
	}
	ps, s1, s2 := pub.Stats(), consumer1.Stats(), consumer2.Stats()
	t.Logf("%d messages, %d deliveries, %d duplicates delivered, %d missing; %d Publish errors retried by the test",
		nothingLostMessages, total.Load(), dups, missing, pubErrors.Load())
	t.Logf("publisher: %d stored, %d attempts retried inside Publish, %d dropped by the stream as duplicates",
		ps.Published, ps.PublishRetries, ps.Duplicates)
	t.Logf("consumer 1 (killed): %d deliveries; consumer 2: %d deliveries", s1.Delivered, s2.Delivered)
	if missing > 0 {
		t.Errorf("%d of %d messages lost", missing, nothingLostMessages)
	}
	if n := bad.Load(); n > 0 {
		t.Errorf("%d deliveries with an unknown ID or a body that does not match", n)
	}
	eventsMu.Lock()
	defer eventsMu.Unlock()
	if len(events) != 7 {
		t.Errorf("the chaos did not all happen: %q", events)
	}
}
