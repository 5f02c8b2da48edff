package brokertest

import (
	"sync"
	"time"
)

// Gauge counts the handler calls in progress and remembers the most that
// ran at once: a handler calls Enter when it starts and Leave when it
// returns. Tests of broker.Concurrency use it.
type Gauge struct {
	mu      sync.Mutex
	running int
	most    int
	want    int
	reached chan struct{}
	once    sync.Once
}

// NewGauge returns a gauge whose Reached channel closes once want calls
// run at once.
func NewGauge(want int) *Gauge { return &Gauge{want: want, reached: make(chan struct{})} }

// Enter counts a call in.
func (g *Gauge) Enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running++
	g.most = max(g.most, g.running)
	if g.running >= g.want {
		g.once.Do(func() { close(g.reached) })
	}
}

// Hold waits until want calls have run at once, or d has passed: the first
// calls of a subscription hold on so that the later ones can overlap them.
func (g *Gauge) Hold(d time.Duration) {
	select {
	case <-g.reached:
	case <-time.After(d):
	}
}

// Leave counts a call out.
func (g *Gauge) Leave() {
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
}

// Running returns how many calls are in progress.
func (g *Gauge) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Max returns the most calls that ran at once.
func (g *Gauge) Max() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// Reached returns a channel closed once want calls have run at once.
func (g *Gauge) Reached() <-chan struct{} { return g.reached }
