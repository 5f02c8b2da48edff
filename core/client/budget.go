package client

import (
	"sync"
	"time"
)

// budget limits retries: every call deposits ratio tokens, every retry
// withdraws one, and minPerSec tokens accrue each second. The balance is
// capped at ten seconds' worth of the minimum plus the earned share, so a
// long healthy period does not bank an unbounded burst of retries.
type budget struct {
	mu        sync.Mutex
	ratio     float64
	minPerSec float64
	tokens    float64
	max       float64
	last      time.Time
}

func newBudget(ratio, minPerSec float64) *budget {
	max := 10*minPerSec + 100*ratio
	return &budget{ratio: ratio, minPerSec: minPerSec, tokens: max, max: max, last: time.Now()}
}

func (b *budget) deposit() {
	if b.ratio <= 0 {
		return
	}
	b.mu.Lock()
	b.tokens = min(b.tokens+b.ratio, b.max)
	b.mu.Unlock()
}

func (b *budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*b.minPerSec, b.max)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
