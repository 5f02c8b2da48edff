package plugin_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// waitRestarted waits up to d for c to run a process other than old, and
// returns its pid.
func waitRestarted(t *testing.T, c *plugin.Client, old int, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if pid := plugin.PID(c); pid != 0 && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin did not restart within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkCrashError checks that err says the plugin crashed and restarts.
func checkCrashError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, plugin.ErrRestarting) {
		t.Errorf("error = %v, want one matching plugin.ErrRestarting", err)
		return
	}
	if !strings.Contains(err.Error(), "plugin store/crashy crashed; restarting") && !strings.Contains(err.Error(), "crashed; restarting") {
		t.Errorf("error %q does not say that the plugin crashed and restarts", err)
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("status.Code = %v, want Unavailable", status.Code(err))
	}
}

// TestKillDuringCalls kills the plugin process while 1000 calls are made,
// paced over about two seconds by four goroutines: the host survives, every
// call returns within a second, those that fail say that the plugin crashed
// and restarts, and the plugin is back, serving calls, within five seconds.
func TestKillDuringCalls(t *testing.T) {
	c := mustOpenChild(t, plugin.KindStore, "store", plugin.WithName("store/crashy"))
	s := c.Store()
	killDuringCalls(t, c, func(i int64) error {
		key := "k" + strconv.FormatInt(i, 10)
		err := s.Write(t.Context(), &store.Record{Key: key, Value: []byte("v")})
		if err == nil {
			_, err = s.Read(t.Context(), key)
		}
		return err
	})
}

// TestKillDuringPublishes is TestKillDuringCalls for publishes, which go
// over the data link: those in flight fail at once, and once the plugin is
// back, publishes take the new process's link.
func TestKillDuringPublishes(t *testing.T) {
	c := mustOpenChild(t, plugin.KindBroker, "broker", plugin.WithName("broker/crashy"))
	b := c.Broker()
	killDuringCalls(t, c, func(i int64) error {
		return b.Publish(t.Context(), "t", &broker.Message{Body: []byte(strconv.FormatInt(i, 10))})
	})
	if served, used := plugin.DataLink(c); !served || !used {
		t.Errorf("after the restart: data link served %v, used %v; want both", served, used)
	}
}

// killDuringCalls makes call from 4 goroutines, 1000 times in all, and
// SIGKILLs c's process at the 200th: no call waits, those that fail say
// that the plugin crashed, and calls succeed again once it is back.
func killDuringCalls(t *testing.T, c *plugin.Client, call func(i int64) error) {
	pid := plugin.PID(c)

	const (
		calls   = 1000
		workers = 4
		killAt  = 200
	)
	var (
		next      atomic.Int64
		killed    atomic.Int64 // when, in unix nanoseconds
		mu        sync.Mutex
		failures  []error
		slowest   time.Duration
		recovered time.Time // the first success after the kill
		lastOK    bool
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > calls {
					return
				}
				if i == killAt {
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
						t.Errorf("kill: %v", err)
					}
					killed.Store(time.Now().UnixNano())
				}
				start := time.Now()
				err := call(i)
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				if err != nil {
					failures = append(failures, err)
				} else if k := killed.Load(); k != 0 && recovered.IsZero() && start.UnixNano() > k {
					recovered = time.Now()
				}
				if i == calls {
					lastOK = err == nil
				}
				mu.Unlock()
				time.Sleep(8 * time.Millisecond)
			}
		}()
	}
	wg.Wait()

	if slowest > time.Second {
		t.Errorf("the slowest call took %v, want at most 1s", slowest)
	}
	if len(failures) == 0 {
		t.Error("no call failed although the plugin was killed")
	}
	for _, err := range failures {
		checkCrashError(t, err)
	}
	if recovered.IsZero() {
		t.Fatal("no call succeeded after the kill")
	}
	back := recovered.Sub(time.Unix(0, killed.Load()))
	if back > 5*time.Second {
		t.Errorf("the plugin was back %v after the kill, want within 5s", back)
	}
	if !lastOK {
		t.Error("the last call failed")
	}
	if newPID := plugin.PID(c); newPID == pid || newPID == 0 {
		t.Errorf("pid after the restart = %d, before %d", newPID, pid)
	}
	t.Logf("%d of %d calls failed; slowest call %v; back %v after the kill; first error: %v",
		len(failures), calls, slowest.Round(time.Millisecond), back.Round(time.Millisecond), failures[0])
}

// TestCallsWhileDown: once the process is dead, calls fail at once with
// the crash error until it is back.
func TestCallsWhileDown(t *testing.T) {
	c := mustOpenChild(t, plugin.KindStore, "store", plugin.WithName("store/crashy"))
	pid := plugin.PID(c)
	syscall.Kill(pid, syscall.SIGKILL)
	var err error
	for {
		start := time.Now()
		_, err = c.Store().List(t.Context(), "")
		if took := time.Since(start); took > time.Second {
			t.Fatalf("a call took %v while the plugin restarts", took)
		}
		if err == nil {
			break
		}
		checkCrashError(t, err)
		if t.Failed() {
			return
		}
	}
	waitRestarted(t, c, pid, 5*time.Second)
}

func TestSubscriptionSurvivesARestart(t *testing.T) {
	c := mustOpenChild(t, plugin.KindBroker, "broker", plugin.WithName("broker/crashy"))
	b := c.Broker()
	got := make(chan string, 100)
	sub, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *broker.Message) error {
		got <- string(m.Body)
		return nil
	}, broker.Queue("q"))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte("before")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if m := <-got; m != "before" {
		t.Fatalf("got %q", m)
	}

	pid := plugin.PID(c)
	syscall.Kill(pid, syscall.SIGKILL)
	waitRestarted(t, c, pid, 5*time.Second)
	// The subscription comes back a moment after the process: publish
	// until a message arrives.
	deadline := time.After(5 * time.Second)
	for i := 0; ; i++ {
		_ = b.Publish(t.Context(), "t", &broker.Message{Body: []byte("after")})
		select {
		case m := <-got:
			if m != "after" {
				t.Fatalf("got %q, want after", m)
			}
			if err := sub.Unsubscribe(t.Context()); err != nil {
				t.Errorf("Unsubscribe: %v", err)
			}
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message reached the subscription after the restart")
		}
	}
}

func TestUnsubscribeWhileTheProcessIsDown(t *testing.T) {
	c := mustOpenChild(t, plugin.KindBroker, "broker", plugin.WithName("broker/crashy"))
	b := c.Broker()
	sub, err := b.Subscribe(t.Context(), "t", func(context.Context, *broker.Message) error { return nil })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	syscall.Kill(plugin.PID(c), syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := sub.Unsubscribe(ctx); err != nil && !errors.Is(err, plugin.ErrRestarting) {
		t.Errorf("Unsubscribe = %v", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close = %v", err)
	}
}

func TestWatchEndsWithTheProcess(t *testing.T) {
	c := mustOpenChild(t, plugin.KindRegistry, "registry", plugin.WithName("registry/crashy"))
	r := c.Registry()
	w, err := r.Watch(t.Context())
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	pid := plugin.PID(c)
	syscall.Kill(pid, syscall.SIGKILL)
	if _, err := w.Next(); !errors.Is(err, plugin.ErrRestarting) {
		t.Fatalf("Next after the crash = %v, want an error matching ErrRestarting", err)
	}
	// Watch again, as a caller does, until the plugin is back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		w2, err := r.Watch(t.Context())
		if err == nil {
			w2.Stop()
			break
		}
		if !errors.Is(err, plugin.ErrRestarting) {
			t.Fatalf("Watch while restarting = %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch failed for 5s after the crash")
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc := &registry.Service{Name: "s", Nodes: []*registry.Node{{ID: "n", Address: "a:1"}}}
	if err := r.Register(t.Context(), svc, 0); err != nil {
		t.Errorf("Register after the restart: %v", err)
	}
}

// TestUnresponsiveProcessIsRestarted stops the plugin process (SIGSTOP): it
// fails its health checks and is killed and started again.
func TestUnresponsiveProcessIsRestarted(t *testing.T) {
	c := mustOpenChild(t, plugin.KindStore, "store", plugin.WithName("store/frozen"), plugin.WithHealthCheck(100*time.Millisecond))
	pid := plugin.PID(c)
	// A process that answers passes its checks and keeps running.
	time.Sleep(600 * time.Millisecond)
	if p := plugin.PID(c); p != pid {
		t.Fatalf("a healthy plugin was restarted: pid %d, then %d", pid, p)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The signal is sent, not yet acted on: a call made before the
	// process has stopped may still be answered.
	waitStopped(t, pid)
	// A call in flight when the process is stopped fails with the crash
	// error.
	_, err := c.Store().List(t.Context(), "")
	checkCrashError(t, err)
	waitRestarted(t, c, pid, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = c.Store().List(t.Context(), ""); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("List after the restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !gone(pid) {
		t.Errorf("the stopped process %d still exists", pid)
	}
}

// waitStopped waits until process pid is stopped (state T in
// /proc/<pid>/stat), or for a while where there is no /proc.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		time.Sleep(100 * time.Millisecond) // no /proc to look in
		return
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := procState(pid)
		if err != nil {
			t.Fatalf("process %d: %v", pid, err)
		}
		if st == "T" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 5 s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseWhileRestarting(t *testing.T) {
	c := mustOpenChild(t, plugin.KindStore, "store")
	pid := plugin.PID(c)
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(60 * time.Millisecond) // into the back-off or the launch
	c.Close()
	if _, err := c.Store().List(t.Context(), ""); !errors.Is(err, plugin.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
	time.Sleep(200 * time.Millisecond)
	if p := plugin.PID(c); p != 0 && p != pid && !gone(p) {
		t.Errorf("a process %d runs after Close", p)
	}
}
