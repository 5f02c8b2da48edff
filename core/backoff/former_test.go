package backoff_test

import (
	"testing"
	"time"

	"github.com/seedmicro/micro/core/backoff"
)

// TestFormerSchedules pins the un-jittered schedules of the components
// whose hand-written back-offs became Policies: the Policy must give the
// same wait for every attempt as the shift-and-cap formula it replaced.
func TestFormerSchedules(t *testing.T) {
	const ms = time.Millisecond
	shift := func(initial, ceiling time.Duration) func(int) time.Duration {
		return func(attempt int) time.Duration {
			if attempt-1 >= 16 { // as the former guards: beyond any cap here
				return ceiling
			}
			return min(initial<<(attempt-1), ceiling)
		}
	}
	tests := []struct {
		name string
		p    backoff.Policy
		want func(attempt int) time.Duration
	}{
		{"client retries", backoff.Policy{Initial: 2 * ms, Max: 500 * ms, Multiplier: 2, Jitter: 0.5}, shift(2*ms, 500*ms)},
		{"direct broker redelivery", backoff.Policy{Initial: 10 * ms, Max: 500 * ms, Multiplier: 2, Jitter: 0.5}, shift(10*ms, 500*ms)},
		{"plugin restarts, redis reconnects", backoff.Policy{Initial: 50 * ms, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.5}, shift(50*ms, 5*time.Second)},
		{"registry cache watch", backoff.Policy{Initial: 100 * ms, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.5}, shift(100*ms, 30*time.Second)},
		{"rabbitmq reconnects", backoff.Policy{Initial: 100 * ms, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.5}, shift(100*ms, 10*time.Second)},
		{"sidecar pushes", backoff.Policy{Initial: 100 * ms, Max: 5 * time.Second, Multiplier: 2}, shift(100*ms, 5*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for attempt := 1; attempt <= 64; attempt++ {
				if got, want := tt.p.Base(attempt), tt.want(attempt); got != want {
					t.Fatalf("attempt %d: Base = %v, former formula %v", attempt, got, want)
				}
			}
		})
	}
}
