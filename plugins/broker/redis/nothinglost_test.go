package redis_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

// Environment of the child process of TestNothingLost.
const (
	envChild       = "MICRO_REDIS_NOTHING_LOST_CHILD"
	envChildPrefix = "MICRO_REDIS_NOTHING_LOST_PREFIX"
)

const (
	nothingLostTopic = "nothing-lost"
	nothingLostGroup = "workers"
)

// nothingLostConfig is the broker configuration of both consumers.
func nothingLostConfig(prefix string) redis.Config {
	cfg := fastConfig(prefix)
	cfg.MaxLen = -1
	cfg.MinIdle = redis.Duration(2 * time.Second)
	cfg.ClaimInterval = redis.Duration(250 * time.Millisecond)
	cfg.MaxDeliveries = -1
	return cfg
}

// TestNothingLostChild is the consumer that TestNothingLost kills: it
// prints the ID of every message it handles on a line of its own.
func TestNothingLostChild(t *testing.T) {
	prefix := os.Getenv(envChildPrefix)
	if os.Getenv(envChild) == "" || prefix == "" {
		t.Skip("the consumer process of TestNothingLost")
	}
	b, err := redis.New(t.Context(), nothingLostConfig(prefix), redis.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	_, err = b.Subscribe(t.Context(), nothingLostTopic, func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(os.Stdout, msg.ID)
		return nil
	}, broker.Queue(nothingLostGroup))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "READY")
	select {} // until killed
}

// TestNothingLost sends many messages through a queue group of two
// consumers, one of which, in another process, is killed mid-stream with
// entries it read and did not acknowledge; the survivor claims them. Every
// message must arrive at least once; duplicates are counted and logged.
func TestNothingLost(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	prefix := testPrefix(t)
	c := client(t)
	ctx := t.Context()
	stream := prefix + nothingLostTopic
	if err := c.XGroupCreateMkStream(ctx, stream, nothingLostGroup, "$").Err(); err != nil {
		t.Fatal(err)
	}

	// Publish from several goroutines: half of the messages before the
	// consumers start, so that they have a backlog to work through, the
	// rest while they consume.
	pub := newBroker(t, nothingLostConfig(prefix))
	start := time.Now()
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		pubErrs = make(chan error, 8)
	)
	body := make([]byte, 128)
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				msg := &broker.Message{ID: "m-" + strconv.FormatInt(i, 10), Body: body}
				if err := pub.Publish(ctx, nothingLostTopic, msg); err != nil {
					pubErrs <- err
					return
				}
			}
		})
	}
	for next.Load() < int64(n/2) {
		time.Sleep(time.Millisecond)
	}

	// The child consumer.
	child := exec.Command(os.Args[0], "-test.run=^TestNothingLostChild$", "-test.v=false")
	child.Env = append(os.Environ(), envChild+"=1", envChildPrefix+"="+prefix)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			child.Process.Kill()
		}
		child.Wait()
	})
	var (
		mu        sync.Mutex
		seen      = make(map[string]int, n) // by message ID, in both processes
		childSeen atomic.Int64
		ready     = make(chan struct{})
		childDone = make(chan struct{})
	)
	go func() {
		defer close(childDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "READY" {
				close(ready)
				continue
			}
			if !strings.HasPrefix(line, "m-") {
				continue // test framework output
			}
			mu.Lock()
			seen[line]++
			mu.Unlock()
			childSeen.Add(1)
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the child consumer did not start")
	}

	// The surviving consumer.
	b := newBroker(t, nothingLostConfig(prefix))
	var survivorSeen, redelivered atomic.Int64
	brokertest.Subscribe(t, b, nothingLostTopic, func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		seen[msg.ID]++
		mu.Unlock()
		survivorSeen.Add(1)
		if msg.Header[broker.DeliveryHeader] != "1" {
			redelivered.Add(1)
		}
		return nil
	}, broker.Queue(nothingLostGroup))

	// Kill the child once it has handled a fifth of the messages.
	brokertest.WaitWithin(t, 2*time.Minute, "the child to handle a fifth of the messages", func() bool { return childSeen.Load() >= int64(n/5) })
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	child.Wait()
	<-childDone
	killedAt := childSeen.Load()
	pending := childPending(t, c, stream, child.Process.Pid)
	t.Logf("killed the child after it handled %d messages; it left %d entries pending", killedAt, pending)
	if pending == 0 {
		t.Error("the child left no entry pending: the test did not exercise reclaiming")
	}

	wg.Wait()
	close(pubErrs)
	for err := range pubErrs {
		t.Fatalf("Publish: %v", err)
	}
	t.Logf("published %d messages in %v", n, time.Since(start).Round(time.Millisecond))

	// Wait for every message.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			var missing []string
			for i := range n {
				if id := "m-" + strconv.Itoa(i); seen[id] == 0 && len(missing) < 10 {
					missing = append(missing, id)
				}
			}
			mu.Unlock()
			t.Fatalf("%d of %d messages delivered after %v; missing for instance %v", got, n, time.Since(start), missing)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // let late duplicates show

	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, k := range seen {
		dups += k - 1
	}
	t.Logf("all %d messages delivered in %v: %d by the child before it was killed, %d by the survivor, "+
		"%d of them redelivered (claimed from the child); %d duplicates",
		n, elapsed.Round(time.Millisecond), killedAt, survivorSeen.Load(), redelivered.Load(), dups)
	if redelivered.Load() == 0 {
		t.Error("the survivor claimed nothing from the child")
	}
	if p, err := c.XPending(ctx, stream, nothingLostGroup).Result(); err != nil || p.Count != 0 {
		t.Errorf("pending entries at the end: %+v, %v; want none", p, err)
	}
}

// childPending returns how many entries the consumers of the process pid
// hold in the test's group.
func childPending(t *testing.T, c *goredis.Client, stream string, pid int) int64 {
	t.Helper()
	consumers, err := c.XInfoConsumers(t.Context(), stream, nothingLostGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, cons := range consumers {
		if strings.Contains(cons.Name, "-"+strconv.Itoa(pid)+"-") {
			n += cons.Pending
		}
	}
	return n
}
