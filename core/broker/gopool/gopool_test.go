package gopool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunsEveryFunction: every function given runs once, concurrent
// callers included, and Close waits for the last.
func TestRunsEveryFunction(t *testing.T) {
	var p Pool
	var ran atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				p.Go(func() { ran.Add(1) })
			}
		})
	}
	wg.Wait()
	p.Close()
	if n := ran.Load(); n != 8000 {
		t.Fatalf("%d functions ran, want 8000", n)
	}
}

// TestReusesGoroutines: calls made one after the other run on the same
// goroutine, not on one each.
func TestReusesGoroutines(t *testing.T) {
	var p Pool
	defer p.Close()
	before := runtime.NumGoroutine()
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		// Let the goroutine go back to waiting before the next call.
		for range 100 {
			runtime.Gosched()
		}
	}
	if n := runtime.NumGoroutine() - before; n > 2 {
		t.Fatalf("%d goroutines for 100 calls one after the other, want at most 2", n)
	}
}

// TestGoDoesNotWait: a call does not wait for busy goroutines; it gets a
// goroutine of its own.
func TestGoDoesNotWait(t *testing.T) {
	var p Pool
	release := make(chan struct{})
	started := make(chan struct{}, 3)
	for range 3 {
		p.Go(func() {
			started <- struct{}{}
			<-release
		})
	}
	for range 3 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("a function did not start while the others were blocked")
		}
	}
	close(release)
	p.Close()
}

// TestCloseWaitsForBusy: Close returns only once the running functions
// have.
func TestCloseWaitsForBusy(t *testing.T) {
	var p Pool
	var finished atomic.Bool
	started := make(chan struct{})
	p.Go(func() {
		close(started)
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
	})
	<-started
	p.Close()
	if !finished.Load() {
		t.Fatal("Close returned before the function did")
	}
}

// TestGoAfterClose: a function given after Close still runs.
func TestGoAfterClose(t *testing.T) {
	var p Pool
	p.Go(func() {})
	p.Close()
	done := make(chan struct{})
	p.Go(func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a function given after Close did not run")
	}
	p.Close()
}

func BenchmarkPool(b *testing.B) {
	var p Pool
	defer p.Close()
	done := make(chan struct{})
	for b.Loop() {
		p.Go(func() { deep(40); done <- struct{}{} })
		<-done
	}
}

func BenchmarkGoStatement(b *testing.B) {
	done := make(chan struct{})
	for b.Loop() {
		go func() { deep(40); done <- struct{}{} }()
		<-done
	}
}

// deep recurses with a frame large enough that n levels outgrow a new
// goroutine's first stack, as a handler call down a broker's and the
// bridge's call path does.
//
//go:noinline
func deep(n int) byte {
	var buf [256]byte
	if n == 0 {
		return buf[0]
	}
	buf[n%256] = byte(n)
	return deep(n-1) + buf[(n+1)%256]
}
