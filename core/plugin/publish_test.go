package plugin_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
)

// gateBroker's Publish fails on topic "closed" with broker.ErrClosed, on
// topic "bad" with an error of its own, blocks on topic "block" until its
// ctx ends, and takes anything else.
type gateBroker struct {
	broker.Broker
	cancelled chan error
}

func (b *gateBroker) Publish(ctx context.Context, topic string, msg *broker.Message) error {
	switch topic {
	case "closed":
		return broker.ErrClosed
	case "bad":
		return errors.New("bad topic " + string(msg.Body))
	case "block":
		<-ctx.Done()
		b.cancelled <- ctx.Err()
		return ctx.Err()
	}
	return nil
}

func (b *gateBroker) Close(context.Context) error { return nil }

// TestPublishConcurrent publishes from many goroutines at once, over the
// one stream Publish uses: each call gets its own result.
func TestPublishConcurrent(t *testing.T) {
	gb := &gateBroker{cancelled: make(chan error, 1)}
	c, err := plugin.TestClient(t, plugin.Broker(gb))
	if err != nil {
		t.Fatalf("TestClient: %v", err)
	}
	b := c.Broker()
	defer b.Close(context.Background())

	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				body := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				msg := &broker.Message{Body: []byte(body)}
				switch i % 3 {
				case 0:
					if err := b.Publish(t.Context(), "t", msg); err != nil {
						t.Errorf("Publish: %v", err)
					}
				case 1:
					if err := b.Publish(t.Context(), "closed", msg); !errors.Is(err, broker.ErrClosed) {
						t.Errorf("Publish to closed = %v, want broker.ErrClosed", err)
					}
				case 2:
					err := b.Publish(t.Context(), "bad", msg)
					if err == nil || err.Error() != "bad topic "+body {
						t.Errorf("Publish to bad = %v, want bad topic %s", err, body)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestPublishCancel: a Publish whose ctx ends returns the ctx's error at
// once, and the plugin's Publish sees its ctx end.
func TestPublishCancel(t *testing.T) {
	gb := &gateBroker{cancelled: make(chan error, 1)}
	c, err := plugin.TestClient(t, plugin.Broker(gb))
	if err != nil {
		t.Fatalf("TestClient: %v", err)
	}
	b := c.Broker()
	defer b.Close(context.Background())

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := b.Publish(ctx, "block", &broker.Message{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish = %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-gb.cancelled:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the plugin's Publish ctx ended with %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin's Publish ctx did not end")
	}
	// Without a deadline, the cancellation reaches the plugin.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := b.Publish(ctx, "block", &broker.Message{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish = %v, want context.Canceled", err)
	}
	select {
	case err := <-gb.cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the plugin's Publish ctx ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin's Publish ctx was not cancelled")
	}
	// The stream still works.
	if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
		t.Errorf("Publish after a cancelled one: %v", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, "t", &broker.Message{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a done ctx = %v, want context.Canceled", err)
	}
}
