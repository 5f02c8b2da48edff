package brokerutil_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokerutil"
)

// TestIDs: every ID is 32 hex digits, and no two are equal, within one IDs
// or across two.
func TestIDs(t *testing.T) {
	var a, b brokerutil.IDs
	seen := make(map[string]bool)
	for range 1000 {
		for _, id := range []string{a.New(), b.New()} {
			if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
				t.Fatalf("ID %q, want 32 hex digits", id)
			}
			if seen[id] {
				t.Fatalf("ID %q made twice", id)
			}
			seen[id] = true
		}
	}
}

// TestCall: a handler's result passes through; its panic becomes a
// *PanicError that names the broker and wraps an error value.
func TestCall(t *testing.T) {
	errNack := errors.New("nack")
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		h       broker.Handler
		wantIs  error
		wantMsg string
	}{
		{"ack", func(context.Context, *broker.Message) error { return nil }, nil, ""},
		{"nack", func(context.Context, *broker.Message) error { return errNack }, errNack, "nack"},
		{"panic string", func(context.Context, *broker.Message) error { panic("oops") }, nil, "test: handler panic: oops"},
		{"panic error", func(context.Context, *broker.Message) error { panic(errBoom) }, errBoom, "test: handler panic: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := brokerutil.Call(context.Background(), "test", tt.h, &broker.Message{})
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Call = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg {
				t.Fatalf("Call = %v, want %q", err, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Call = %v, want it to wrap %v", err, tt.wantIs)
			}
			var p *brokerutil.PanicError
			if strings.Contains(tt.name, "panic") && (!errors.As(err, &p) || len(p.Stack) == 0) {
				t.Errorf("Call = %#v, want a *PanicError with a stack", err)
			}
		})
	}
}

// TestSubscriptions: Close returns the members, refuses later Adds and
// Tracks, and Wait waits for the goroutines counted by Add and gives up
// when ctx ends.
func TestSubscriptions(t *testing.T) {
	var ss brokerutil.Subscriptions[int]
	if !ss.Add(1, 1) || !ss.Add(2, 0) || !ss.Add(3, 0) {
		t.Fatal("Add on an open set failed")
	}
	ss.Remove(3)
	var extra sync.WaitGroup
	if !ss.Track(&extra) {
		t.Fatal("Track on an open set failed")
	}
	extra.Done()
	n := 0
	ss.Each(func(int) { n++ })
	if n != 2 {
		t.Errorf("Each saw %d members, want 2", n)
	}
	members, first := ss.Close()
	if len(members) != 2 || !first || !ss.Closed() {
		t.Errorf("Close = %v, %v; Closed = %v; want 2 members, true, true", members, first, ss.Closed())
	}
	if _, first := ss.Close(); first {
		t.Error("second Close reported first")
	}
	if ss.Add(4, 1) || ss.Track(&extra) {
		t.Error("Add or Track on a closed set succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ss.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a goroutine running and ctx ended = %v, want context.Canceled", err)
	}
	ss.Done()
	if err := ss.Wait(context.Background()); err != nil {
		t.Errorf("Wait after the last goroutine = %v, want nil", err)
	}
}

// TestMain checks that no test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
