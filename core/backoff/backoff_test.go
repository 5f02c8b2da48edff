package backoff_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/backoff"
)

func TestBase(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		p       backoff.Policy
		attempt int
		want    time.Duration
	}{
		{"zero policy", backoff.Policy{}, 3, 0},
		{"first attempt is Initial", backoff.Policy{Initial: 50 * ms, Max: 5 * time.Second}, 1, 50 * ms},
		{"attempt below 1 counts as 1", backoff.Policy{Initial: 50 * ms, Max: 5 * time.Second}, -4, 50 * ms},
		{"zero multiplier doubles", backoff.Policy{Initial: 50 * ms, Max: 5 * time.Second}, 4, 400 * ms},
		{"explicit doubling", backoff.Policy{Initial: 2 * ms, Max: 500 * ms, Multiplier: 2}, 8, 256 * ms},
		{"capped at Max", backoff.Policy{Initial: 2 * ms, Max: 500 * ms, Multiplier: 2}, 9, 500 * ms},
		{"huge attempt stays at Max", backoff.Policy{Initial: 10 * ms, Max: 500 * ms}, 1 << 30, 500 * ms},
		{"Initial above Max is capped", backoff.Policy{Initial: time.Second, Max: 500 * ms}, 1, 500 * ms},
		{"no Max caps at the largest Duration", backoff.Policy{Initial: time.Second}, 200, math.MaxInt64},
		{"no Max below overflow", backoff.Policy{Initial: time.Second}, 4, 8 * time.Second},
		{"multiplier 1.5", backoff.Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 1.5}, 3, 225 * ms},
		{"multiplier below 1 is constant", backoff.Policy{Initial: 100 * ms, Max: time.Second, Multiplier: 0.5}, 5, 100 * ms},
		{"NaN multiplier is constant", backoff.Policy{Initial: 100 * ms, Max: time.Second, Multiplier: math.NaN()}, 5, 100 * ms},
		{"infinite multiplier caps", backoff.Policy{Initial: 100 * ms, Max: time.Second, Multiplier: math.Inf(1)}, 2, time.Second},
		{"jitter does not change Base", backoff.Policy{Initial: 100 * ms, Max: time.Second, Jitter: 1}, 2, 200 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Base(tt.attempt); got != tt.want {
				t.Errorf("%+v.Base(%d) = %v, want %v", tt.p, tt.attempt, got, tt.want)
			}
		})
	}
}

func TestDelayWithoutJitterIsBase(t *testing.T) {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; attempt < 12; attempt++ {
		if got, want := p.Delay(attempt), p.Base(attempt); got != want {
			t.Fatalf("Delay(%d) = %v, want Base %v", attempt, got, want)
		}
	}
}

// TestJitterBounds draws many delays and checks each lies within
// [(1-Jitter)·Base, Base], and that the draws are actually spread (not all
// equal to one end).
func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name   string
		jitter float64
		frac   float64 // expected lower bound as a fraction of Base
	}{
		{"half", 0.5, 0.5},
		{"quarter", 0.25, 0.75},
		{"full", 1, 0},
		{"above 1 clamps to full", 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := backoff.Policy{Initial: 10 * time.Millisecond, Max: 2 * time.Second, Jitter: tt.jitter}
			for attempt := 1; attempt <= 10; attempt++ {
				base := p.Base(attempt)
				lo := base - time.Duration(float64(base)*(1-tt.frac))
				seen := map[time.Duration]bool{}
				for range 500 {
					d := p.Delay(attempt)
					if d < lo || d > base {
						t.Fatalf("attempt %d: Delay = %v, outside [%v, %v]", attempt, d, lo, base)
					}
					seen[d] = true
				}
				if len(seen) < 10 {
					t.Fatalf("attempt %d: only %d distinct delays in 500 draws; jitter is not random", attempt, len(seen))
				}
			}
		})
	}
}

func TestJitterHalfOddDurations(t *testing.T) {
	// Small and odd durations: the bounds still hold to the nanosecond.
	for _, d := range []time.Duration{1, 2, 3, 7, 1001} {
		p := backoff.Policy{Initial: d, Max: d, Jitter: 0.5}
		for range 200 {
			got := p.Delay(1)
			if got < d-d/2 || got > d {
				t.Fatalf("Initial %d: Delay = %d, outside [%d, %d]", d, got, d-d/2, d)
			}
		}
	}
}

func TestJitterAtLargestDuration(t *testing.T) {
	p := backoff.Policy{Initial: time.Hour, Jitter: 1}
	for range 100 {
		if d := p.Delay(100); d < 0 {
			t.Fatalf("Delay = %v, negative", d)
		}
	}
}

func TestWait(t *testing.T) {
	t.Run("returns nil after the wait", func(t *testing.T) {
		if err := backoff.Wait(context.Background(), time.Millisecond); err != nil {
			t.Fatalf("Wait = %v, want nil", err)
		}
	})
	t.Run("zero wait returns at once", func(t *testing.T) {
		if err := backoff.Wait(context.Background(), 0); err != nil {
			t.Fatalf("Wait = %v, want nil", err)
		}
	})
	t.Run("done context wins even for a zero wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := backoff.Wait(ctx, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	})
	t.Run("cancel ends a long wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- backoff.Policy{Initial: time.Hour}.Sleep(ctx, 1) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline ends a long wait", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if err := backoff.Wait(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want context.DeadlineExceeded", err)
		}
	})
}
