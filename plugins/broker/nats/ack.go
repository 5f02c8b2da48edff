package nats

import (
	"runtime"
	"sync"

	natsgo "github.com/nats-io/nats.go"
)

// acker sends the acknowledgements of handled JetStream messages, those of
// handlers that finish together in one go. Each acknowledgement is a
// publish, and nats.go writes out what it has buffered whenever its flusher
// goroutine gets to run: handler goroutines that each acknowledge and then
// park let the flusher run in between, one write (and one wake-up of the
// server) per message. The acker goroutine first lets the handlers that are
// ready to run go (runtime.Gosched), then acknowledges everything they
// queued, before the flusher runs once. An acknowledgement waits for that
// turn of the scheduler: on a machine whose CPUs are all busy, a few
// scheduling slices, far below AckWait.
type acker struct {
	mu      sync.Mutex
	pending []*natsgo.Msg
	spare   []*natsgo.Msg
	running bool // a goroutine is sending
	idle    sync.Cond
}

func newAcker() *acker {
	a := &acker{}
	a.idle.L = &a.mu
	return a
}

// ack queues the acknowledgement of m.
func (a *acker) ack(m *natsgo.Msg) {
	a.mu.Lock()
	a.pending = append(a.pending, m)
	start := !a.running
	a.running = true
	a.mu.Unlock()
	if start {
		go a.run()
	}
}

func (a *acker) run() {
	runtime.Gosched()
	for {
		a.mu.Lock()
		batch := a.pending
		if len(batch) == 0 {
			a.running = false
			a.idle.Broadcast()
			a.mu.Unlock()
			return
		}
		a.pending, a.spare = a.spare[:0], nil
		a.mu.Unlock()
		for i, m := range batch {
			_ = m.Ack()
			batch[i] = nil
		}
		a.mu.Lock()
		a.spare = batch[:0]
		a.mu.Unlock()
	}
}

// wait returns once the acknowledgements queued so far have been handed to
// the connection.
func (a *acker) wait() {
	a.mu.Lock()
	for a.running {
		a.idle.Wait()
	}
	a.mu.Unlock()
}
