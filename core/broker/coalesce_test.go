package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// slowBatches publishes a batch after wait, failing topic "bad", and
// records the batches.
type slowBatches struct {
	wait time.Duration

	mu      sync.Mutex
	batches [][]string // bodies
	running int
	most    int
}

func (s *slowBatches) PublishBatch(ctx context.Context, pubs []broker.Publication, errs []error) {
	s.mu.Lock()
	s.running++
	s.most = max(s.most, s.running)
	var bodies []string
	for _, p := range pubs {
		bodies = append(bodies, string(p.Message.Body))
	}
	s.batches = append(s.batches, bodies)
	s.mu.Unlock()
	select {
	case <-time.After(s.wait):
	case <-ctx.Done():
	}
	for i, p := range pubs {
		switch {
		case ctx.Err() != nil:
			errs[i] = ctx.Err()
		case p.Topic == "bad":
			errs[i] = errors.New("bad " + string(p.Message.Body))
		}
	}
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
}

func TestCoalescer(t *testing.T) {
	t.Run("alone: under the call's own ctx", func(t *testing.T) {
		s := &slowBatches{wait: 10 * time.Second}
		c := &broker.Coalescer{PublishBatch: s.PublishBatch}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := c.Publish(ctx, "t", &broker.Message{Body: []byte("x")})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Publish = %v, want the cancellation of its ctx", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the cancelled publish returned after %v", d)
		}
	})
	t.Run("alone: a batch of one at once", func(t *testing.T) {
		s := &slowBatches{}
		c := &broker.Coalescer{PublishBatch: s.PublishBatch}
		for i := range 3 {
			if err := c.Publish(t.Context(), "t", &broker.Message{Body: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.batches) != 3 {
			t.Errorf("batches %v, want 3 of one", s.batches)
		}
	})
	t.Run("concurrent: batches, each call its own error", func(t *testing.T) {
		s := &slowBatches{wait: 2 * time.Millisecond}
		c := &broker.Coalescer{PublishBatch: s.PublishBatch, Limit: 2}
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					body := fmt.Sprintf("%d-%d", g, i)
					topic := "t"
					if i%5 == 0 {
						topic = "bad"
					}
					err := c.Publish(t.Context(), topic, &broker.Message{Body: []byte(body)})
					if topic == "bad" {
						if err == nil || err.Error() != "bad "+body {
							t.Errorf("Publish %s to bad = %v", body, err)
						}
					} else if err != nil {
						t.Errorf("Publish %s: %v", body, err)
					}
				}
			})
		}
		wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		n, largest := 0, 0
		for _, b := range s.batches {
			n += len(b)
			largest = max(largest, len(b))
		}
		if n != 32*20 {
			t.Errorf("%d messages published, want %d", n, 32*20)
		}
		if largest < 2 {
			t.Errorf("largest batch %d, want calls together", largest)
		}
		if s.most > 2 {
			t.Errorf("%d batches at once, want at most Limit 2", s.most)
		}
		t.Logf("%d batches, largest %d", len(s.batches), largest)
	})
	t.Run("a waiting call whose ctx ends is not published", func(t *testing.T) {
		s := &slowBatches{wait: 300 * time.Millisecond}
		c := &broker.Coalescer{PublishBatch: s.PublishBatch}
		first := make(chan error, 1)
		go func() { first <- c.Publish(context.Background(), "t", &broker.Message{Body: []byte("first")}) }()
		for {
			s.mu.Lock()
			started := len(s.batches) == 1
			s.mu.Unlock()
			if started {
				break
			}
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if err := c.Publish(ctx, "t", &broker.Message{Body: []byte("late")}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish = %v, want context.DeadlineExceeded", err)
		}
		if err := <-first; err != nil {
			t.Errorf("first: %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.batches {
			for _, body := range b {
				if body == "late" {
					t.Error("the call given up on while it waited was published")
				}
			}
		}
	})
	t.Run("the batch ends at the latest deadline", func(t *testing.T) {
		s := &slowBatches{wait: time.Hour}
		c := &broker.Coalescer{PublishBatch: s.PublishBatch}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.Publish(ctx, "t", &broker.Message{Body: []byte("x")}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Publish returned after %v", d)
		}
	})
}
