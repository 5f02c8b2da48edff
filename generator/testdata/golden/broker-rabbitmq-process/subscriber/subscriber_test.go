package subscriber_test

import (
	"context"
	"testing"

	"example.com/greeter/subscriber"
)

func TestHandleCounts(t *testing.T) {
	s := &subscriber.Subscriber{}
	for i := range 3 {
		if err := s.Handle(context.Background(), &subscriber.Event{Name: "ada"}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if got := s.Count(); got != 3 {
		t.Fatalf("Count() = %d after 3 events, want 3", got)
	}
}
