// Package brokerutil holds the pieces that every broker.Broker
// implementation needs and that do not depend on its server: message IDs,
// running a handler so that its panic becomes a rejection, and the set of a
// broker's live subscriptions that Close ends and waits for. The embedded
// brokers of core and the plugins' brokers share them.
package brokerutil

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/seedmicro/micro/core/broker"
)

// IDs makes message IDs unique within the process and, through a random
// prefix drawn once per IDs, very likely unique across processes. The zero
// value is ready to use; it must not be copied after first use.
type IDs struct {
	once   sync.Once
	prefix [8]byte
	seq    atomic.Uint64
}

// New returns the next ID: 32 hex digits.
func (g *IDs) New() string {
	g.once.Do(func() { rand.Read(g.prefix[:]) })
	var raw [16]byte
	copy(raw[:8], g.prefix[:])
	binary.BigEndian.PutUint64(raw[8:], g.seq.Add(1))
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

// Wait waits for wg until ctx ends. It returns ctx.Err() if ctx ends first;
// the goroutine waiting for wg then lives on until wg is done.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	waited := make(chan struct{})
	go func() {
		wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PanicError is the error Call returns for a handler that panicked.
type PanicError struct {
	Broker string // names the broker in the message, as "broker/memory"
	Value  any    // what the handler panicked with
	Stack  []byte // the handler's goroutine stack when it panicked
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%s: handler panic: %v", e.Broker, e.Value)
}

// Unwrap returns the value the handler panicked with if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Call runs h with ctx and msg and returns its result, turning a panic into
// a *PanicError naming the broker name: a handler that panics rejects the
// message instead of crashing the process.
func Call(ctx context.Context, name string, h broker.Handler, msg *broker.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Broker: name, Value: r, Stack: debug.Stack()}
		}
	}()
	return h(ctx, msg)
}

// Subscriptions is the set of a broker's live subscriptions of type S, with
// whether the broker is closed and the goroutines its subscriptions run.
// Subscribe adds to it, Unsubscribe removes from it, and Close closes it,
// ends the members it returns and waits for the goroutines. The zero value
// is an empty set of an open broker; it must not be copied after first use.
type Subscriptions[S comparable] struct {
	mu     sync.Mutex
	closed bool
	m      map[S]struct{}
	wg     sync.WaitGroup
}

// Add adds s, which is about to start goroutines goroutines that each call
// Done when they return, and reports true; on a closed set it adds nothing
// and reports false, and the caller returns broker.ErrClosed.
func (ss *Subscriptions[S]) Add(s S, goroutines int) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	if ss.m == nil {
		ss.m = make(map[S]struct{})
	}
	ss.m[s] = struct{}{}
	ss.wg.Add(goroutines)
	return true
}

// Track adds one to wg, for a goroutine of the broker that is not a
// subscription's and that Close waits for too, and reports true; on a closed
// set it reports false and the goroutine must not start.
func (ss *Subscriptions[S]) Track(wg *sync.WaitGroup) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	wg.Add(1)
	return true
}

// Done marks one goroutine of a subscription, counted by Add, returned.
func (ss *Subscriptions[S]) Done() { ss.wg.Done() }

// Remove removes s; removing a member no longer there does nothing.
func (ss *Subscriptions[S]) Remove(s S) {
	ss.mu.Lock()
	delete(ss.m, s)
	ss.mu.Unlock()
}

// Close closes the set: Add fails from then on. It returns the members
// still in it, for the caller to end, and whether this call closed it (the
// first call does; a later one, made to wait again, does not).
func (ss *Subscriptions[S]) Close() (members []S, first bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	first = !ss.closed
	ss.closed = true
	members = make([]S, 0, len(ss.m))
	for s := range ss.m {
		members = append(members, s)
	}
	return members, first
}

// Closed reports whether Close was called.
func (ss *Subscriptions[S]) Closed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closed
}

// Each calls f for every member, holding the set's lock: f must not call
// back into the set.
func (ss *Subscriptions[S]) Each(f func(S)) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.m {
		f(s)
	}
}

// Wait waits until every goroutine counted by Add has returned, or ctx
// ends; then it returns ctx.Err().
func (ss *Subscriptions[S]) Wait(ctx context.Context) error { return Wait(ctx, &ss.wg) }
