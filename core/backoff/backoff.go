// Package backoff computes the waits between attempts of an operation that
// is retried: a first wait, growing by a factor after each failed attempt
// up to a ceiling, optionally jittered so that many processes that failed
// together do not retry in step.
//
// It is the one back-off computation of the toolkit: the client's retries,
// the plugin supervisor's restarts, the direct broker's redeliveries, the
// registry cache's watch, and the broker and registry plugins' reconnects
// all express their timing as a Policy. It depends on the standard library
// only.
//
// A Policy is a plain value: the caller keeps the attempt number (1 for
// the wait after the first failure) and resets it when the operation
// succeeds.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy describes a back-off. The zero Policy waits zero.
type Policy struct {
	// Initial is the wait before the second attempt (attempt number 1).
	Initial time.Duration
	// Max caps the wait before jitter. Zero or negative means no cap
	// other than the largest Duration.
	Max time.Duration
	// Multiplier is the growth factor from one wait to the next. Zero
	// means 2 (doubling); a value below 1 means 1 (a constant wait).
	Multiplier float64
	// Jitter is the fraction of a wait that is random: the wait is drawn
	// uniformly between (1-Jitter)·d and d, where d is the un-jittered
	// wait. 0 means no jitter, 0.5 means between half the wait and the
	// wait. Values outside [0, 1] are clamped to it.
	Jitter float64
}

// Base returns the un-jittered wait before the attempt after attempt
// number attempt (1, 2, ...): Initial·Multiplier^(attempt-1), capped at
// Max. An attempt below 1 counts as 1.
func (p Policy) Base(attempt int) time.Duration {
	if p.Initial <= 0 {
		return 0
	}
	ceiling := p.Max
	if ceiling <= 0 {
		ceiling = math.MaxInt64
	}
	if attempt < 1 {
		attempt = 1
	}
	m := p.Multiplier
	switch {
	case m == 0:
		m = 2
	case m < 1 || math.IsNaN(m):
		m = 1
	}
	d := float64(p.Initial) * math.Pow(m, float64(attempt-1))
	// float64(math.MaxInt64) rounds up to 2^63, so >= also catches values
	// that would overflow the conversion back to Duration.
	if d >= float64(ceiling) || math.IsInf(d, 0) || math.IsNaN(d) {
		return ceiling
	}
	return time.Duration(d)
}

// Delay returns the wait before the attempt after attempt number attempt
// (1, 2, ...): Base(attempt), jittered down by up to Jitter of it.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Base(attempt)
	j := p.Jitter
	if j <= 0 || math.IsNaN(j) || d <= 0 {
		return d
	}
	var spread time.Duration
	if j >= 1 {
		spread = d
	} else if j == 0.5 {
		spread = d / 2 // exact, whatever the size of d
	} else {
		spread = time.Duration(float64(d) * j)
	}
	if spread <= 0 {
		return d
	}
	if spread == math.MaxInt64 {
		return rand.N(spread)
	}
	return d - spread + rand.N(spread+1)
}

// Sleep waits Delay(attempt), or until ctx is done, whichever comes first.
// It returns ctx.Err() when ctx ended the wait, nil otherwise.
func (p Policy) Sleep(ctx context.Context, attempt int) error {
	return Wait(ctx, p.Delay(attempt))
}

// Wait waits d, or until ctx is done, whichever comes first. It returns
// ctx.Err() when ctx ended the wait (or was already done), nil otherwise.
// It starts no goroutine and leaves no timer behind.
func Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
