package backoff_test

import (
	"fmt"
	"time"

	"github.com/seedmicro/micro/core/backoff"
)

func ExamplePolicy_Base() {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	for attempt := 1; attempt <= 6; attempt++ {
		fmt.Println(attempt, p.Base(attempt))
	}
	// Output:
	// 1 100ms
	// 2 200ms
	// 3 400ms
	// 4 800ms
	// 5 1s
	// 6 1s
}

func ExamplePolicy_Delay() {
	// Between half the doubled wait and the wait, so that processes that
	// failed together spread their retries.
	p := backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}
	d := p.Delay(3) // base 200ms
	fmt.Println(d >= 100*time.Millisecond && d <= 200*time.Millisecond)
	// Output: true
}
