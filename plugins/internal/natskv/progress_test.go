package natskv_test

import (
	"context"
	"testing"
	"time"

	"github.com/seedmicro/micro/plugins/internal/natskv"
)

func TestProgressWaitFor(t *testing.T) {
	var p natskv.Progress
	if ok, err := p.WaitFor(t.Context(), 1, 10*time.Millisecond); ok || err != nil {
		t.Fatalf("WaitFor(1) before anything applied = %v, %v; want false, nil", ok, err)
	}
	done := make(chan bool)
	go func() {
		ok, _ := p.WaitFor(context.Background(), 3, 10*time.Second)
		done <- ok
	}()
	p.Applied(2)
	p.Applied(1) // lower: no change
	select {
	case <-done:
		t.Fatal("WaitFor(3) returned with 2 applied")
	case <-time.After(20 * time.Millisecond):
	}
	p.Applied(3)
	if ok := <-done; !ok {
		t.Error("WaitFor(3) = false after 3 was applied")
	}
	if ok, err := p.WaitFor(t.Context(), 2, 0); !ok || err != nil {
		t.Errorf("WaitFor(2) after 3 = %v, %v", ok, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.WaitFor(ctx, 4, time.Second); err == nil {
		t.Error("WaitFor with a cancelled context returned no error")
	}
}
