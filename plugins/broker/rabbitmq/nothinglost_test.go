package rabbitmq_test

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// DefaultNothingLostMessages is how many messages TestNothingLost sends
// unless -messages says otherwise.
const DefaultNothingLostMessages = 100_000

var nothingLostMessages = flag.Int("messages", DefaultNothingLostMessages, "messages sent by TestNothingLost")

// TestNothingLost sends messages to a queue group through two proxies, one
// in front of the publishing broker and one in front of the consuming
// broker, and cuts the connections of each three times meanwhile. Every
// message must arrive at least once; duplicates are counted.
func TestNothingLost(t *testing.T) {
	const (
		publishers = 16
		members    = 4
		cuts       = 3
	)
	n := *nothingLostMessages
	f := newFixture(t)
	pubProxy, pubURL := newProxy(t, f.url)
	subProxy, subURL := newProxy(t, f.url)
	pubCfg, subCfg := f.config(), f.config()
	pubCfg.URL, subCfg.URL = pubURL, subURL
	pub, sub := f.open(t, pubCfg), f.open(t, subCfg)
	topic := unique("nothinglost.")

	var (
		mu         sync.Mutex
		seen       = make([]int32, n) // deliveries per message
		distinct   atomic.Int64
		deliveries atomic.Int64
		published  atomic.Int64
		complete   = make(chan struct{})
	)
	handler := func(_ context.Context, msg *broker.Message) error {
		var i int
		if _, err := fmt.Sscanf(msg.ID, "msg-%d", &i); err != nil || i < 0 || i >= n {
			t.Errorf("unexpected message ID %q", msg.ID)
			return nil
		}
		deliveries.Add(1)
		mu.Lock()
		seen[i]++
		first := seen[i] == 1
		mu.Unlock()
		if first && distinct.Add(1) == int64(n) {
			close(complete)
		}
		return nil
	}
	for range members {
		if _, err := sub.Subscribe(t.Context(), topic, handler, broker.Queue("nothing-lost")); err != nil {
			t.Fatal(err)
		}
	}

	// Cut the connections of the publisher and of the consumer three times
	// each, at points spread over the run.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var cutsDone [2]int // publisher, consumer
	cutterDone := make(chan struct{})
	go func() {
		defer close(cutterDone)
		plan := []struct {
			side     int
			p        *plugintest.Proxy
			progress *atomic.Int64
			at       float64
		}{
			{0, pubProxy, &published, 0.15}, {1, subProxy, &distinct, 0.2},
			{0, pubProxy, &published, 0.4}, {1, subProxy, &distinct, 0.45},
			{0, pubProxy, &published, 0.65}, {1, subProxy, &distinct, 0.7},
		}
		for _, step := range plan {
			for step.progress.Load() < int64(step.at*float64(n)) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Millisecond):
				}
			}
			// Wait for the connections to be back from the last cut, so
			// that each cut hits a live connection.
			for step.p.Cut() == 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Millisecond):
				}
			}
			cutsDone[step.side]++
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			msg := new(broker.Message)
			for i := p; i < n; i += publishers {
				msg.ID = fmt.Sprintf("msg-%d", i)
				msg.Body = append(msg.Body[:0], msg.ID...)
				if err := pub.Publish(ctx, topic, msg); err != nil {
					t.Errorf("Publish %s: %v", msg.ID, err)
					return
				}
				published.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("published %d messages in %v", published.Load(), time.Since(start).Round(time.Millisecond))
	if published.Load() != int64(n) {
		cancel() // some were not published: the wait below would be in vain
	}

	select {
	case <-complete:
	case <-ctx.Done():
	}
	<-cutterDone
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // late duplicates

	mu.Lock()
	missing, dups := 0, 0
	for i, c := range seen {
		switch {
		case c == 0:
			if missing++; missing <= 10 {
				t.Errorf("message msg-%d never delivered", i)
			}
		case c > 1:
			dups += int(c) - 1
		}
	}
	mu.Unlock()
	if missing > 0 {
		t.Errorf("%d of %d messages lost", missing, n)
	}
	if cutsDone != [2]int{cuts, cuts} {
		t.Errorf("connections cut %d times at the publisher and %d times at the consumer, want %d each", cutsDone[0], cutsDone[1], cuts)
	}
	t.Logf("%d messages, %d deliveries, %d duplicates, in %v; connections cut %d times at the publisher, %d times at the consumer",
		n, deliveries.Load(), dups, elapsed.Round(time.Millisecond), cutsDone[0], cutsDone[1])

	if c, err := f.channel(t).QueueDeclarePassive(f.exchange+".dlq", true, false, false, false, nil); err != nil {
		t.Errorf("inspect dead-letter queue: %v", err)
	} else if c.Messages != 0 {
		t.Errorf("%d messages dead-lettered", c.Messages)
	}
}
