// Package gopool runs functions on goroutines that stay for the next
// function once theirs returns. A stream of short calls, such as the
// handler calls of a subscription, then does not start a goroutine for
// each, nor grow a new goroutine's stack again down a deep call path.
//
// A Pool does not bound how many functions run at once: Go never waits,
// and starts a goroutine when none is idle. Callers that need a bound keep
// their own (a semaphore), as they would with the go statement. The
// goroutines a Pool has started stay, idle, until Close: as many as ran at
// once at the busiest moment.
package gopool

import "sync"

// Pool is a set of goroutines that run functions. The zero Pool is ready
// to use; a Pool must not be copied after first use.
type Pool struct {
	work chan func() // unbuffered: a send succeeds only to an idle goroutine
	once sync.Once
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

func (p *Pool) init() {
	p.once.Do(func() {
		p.work = make(chan func())
		p.done = make(chan struct{})
	})
}

// Go runs f on an idle goroutine of the pool, or on a new one that joins
// the pool. It does not wait for f. After Close, f runs on a goroutine of
// its own, as with the go statement.
func (p *Pool) Go(f func()) {
	p.init()
	select {
	case p.work <- f:
		return
	default:
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		go f()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.run(f)
}

func (p *Pool) run(f func()) {
	defer p.wg.Done()
	for {
		f()
		select {
		case f = <-p.work:
		case <-p.done:
			return
		}
	}
}

// Close ends the idle goroutines, and each busy one once its function
// returns, and waits for them all. Closing again only waits.
func (p *Pool) Close() {
	p.init()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
