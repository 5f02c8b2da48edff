package direct_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/core/broker/direct"
	"github.com/seedmicro/micro/core/registry/local"
)

// Environment of the helper process.
const (
	envHelperDir   = "DIRECT_TEST_REGISTRY_DIR"
	envHelperTopic = "DIRECT_TEST_TOPIC"
)

// TestHelperProcess is not a test: run as a child of TestCrossProcess (with
// the environment variables set), it subscribes to a topic through a local
// registry twice, once alone ("all") and once in queue group "workers",
// prints "got <subscription> <body>" for each message before acknowledging
// it, and ends when its stdin closes.
func TestHelperProcess(t *testing.T) {
	dir, topic := os.Getenv(envHelperDir), os.Getenv(envHelperTopic)
	if dir == "" {
		t.Skip("helper process of TestCrossProcess")
	}
	reg, err := local.New(local.WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	b := direct.New(reg, direct.WithLogger(quiet()))
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	handler := func(name string) broker.Handler {
		return func(_ context.Context, msg *broker.Message) error {
			say("got %s %s", name, msg.Body)
			return nil
		}
	}
	ctx := context.Background()
	if _, err := b.Subscribe(ctx, topic, handler("all")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, topic, handler("worker"), broker.Queue("workers")); err != nil {
		t.Fatal(err)
	}
	say("ready")
	io.Copy(io.Discard, os.Stdin)
	if err := b.Close(ctx); err != nil {
		t.Error(err)
	}
	say("bye")
}

// child is a running helper process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan struct{}
	eof   chan struct{} // closed when its stdout ends

	mu    sync.Mutex
	lines []string
}

// localRegistry returns the local registry of dir, closed when t ends.
func localRegistry(t *testing.T, dir string) *local.Registry {
	t.Helper()
	reg, err := local.New(local.WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func startChild(t *testing.T, dir, topic string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelperDir+"="+dir, envHelperTopic+"="+topic)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, ready: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(c.eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.lines = append(c.lines, line)
			c.mu.Unlock()
			if line == "ready" {
				close(c.ready)
			}
		}
	}()
	t.Cleanup(func() { c.kill() })
	select {
	case <-c.ready:
	case <-c.eof:
		t.Fatal("helper process ended before it was ready")
	case <-time.After(30 * time.Second):
		t.Fatal("helper process not ready after 30s")
	}
	return c
}

// stop asks the child to end and waits for it.
func (c *child) stop(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	select {
	case <-c.eof:
	case <-time.After(30 * time.Second):
		t.Fatal("helper process did not end")
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
}

// kill ends the child at once, as a crash would.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Kill()
	<-c.eof
	c.cmd.Wait()
}

// received returns the bodies the child's subscription name got.
func (c *child) received(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.lines {
		if body, ok := strings.CutPrefix(l, "got "+name+" "); ok {
			out = append(out, body)
		}
	}
	return out
}

// TestCrossProcess publishes from this process to subscribers in a child
// process, the two sharing only a local registry directory.
func TestCrossProcess(t *testing.T) {
	dir := t.TempDir()
	const topic = "orders.created"
	c := startChild(t, dir, topic)

	reg := localRegistry(t, dir)
	b := newBroker(t, reg)
	// A member of the child's queue group in this process.
	var here inbox
	brokertest.Subscribe(t, b, topic, here.handler("here", nil), broker.Queue("workers"))

	var want []string
	for i := range 30 {
		body := "order-" + strconv.Itoa(i)
		want = append(want, body)
		// PublishSync returns once the child acknowledged, which it does
		// after printing the message.
		if err := b.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte(body)}); err != nil {
			t.Fatalf("PublishSync: %v", err)
		}
	}
	// And one published in the background.
	if err := b.Publish(ctxFor(t), topic, &broker.Message{Body: []byte("async")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	want = append(want, "async")
	brokertest.WaitFor(t, "the background message", func() bool { return len(c.received("all")) == len(want) })
	c.stop(t)

	if got := c.received("all"); !sameSet(got, want) {
		t.Errorf("child's subscriber got %v, want %v", got, want)
	}
	group := append(c.received("worker"), here.bodies()["here"]...)
	if !sameSet(group, want) {
		t.Errorf("queue group got %v, want each message once", group)
	}
	if len(c.received("worker")) == 0 || here.len() == 0 {
		t.Errorf("group members got %d (child) and %d (here) messages; want both to get some",
			len(c.received("worker")), here.len())
	}

	// The child deregistered when it closed: only the member here is left.
	if got := nodes(t, reg, topic); len(got) != 1 {
		t.Errorf("%d subscriptions registered after the child ended, want 1", len(got))
	}
	if err := b.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte("after")}); err != nil {
		t.Errorf("PublishSync after the child ended: %v", err)
	}
}

// TestCrossProcessCrash kills a subscriber process: its registrations stay
// until they expire, but deliveries to its queue group move on to the live
// member, and messages for its own subscription fail.
func TestCrossProcessCrash(t *testing.T) {
	dir := t.TempDir()
	const topic = "orders.crash"
	c := startChild(t, dir, topic)
	reg := localRegistry(t, dir)
	b := newBroker(t, reg, direct.WithMaxAttempts(2))
	var here inbox
	brokertest.Subscribe(t, b, topic, here.handler("here", nil), broker.Queue("workers"))
	c.kill()

	if got := nodes(t, reg, topic); len(got) != 3 {
		t.Fatalf("%d subscriptions registered, want the dead child's 2 and ours", len(got))
	}
	const n = 10
	for i := range n {
		err := b.PublishSync(ctxFor(t), topic, &broker.Message{Body: []byte(strconv.Itoa(i))})
		// The child's own subscriber is dead: that part fails.
		if err == nil || !strings.Contains(err.Error(), "subscriber ") || strings.Contains(err.Error(), "queue group") {
			t.Fatalf("PublishSync = %v, want an error for the dead subscriber only", err)
		}
	}
	if here.len() != n {
		t.Errorf("the live group member got %d messages, want %d", here.len(), n)
	}
}

func sameSet(got, want []string) bool {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}
