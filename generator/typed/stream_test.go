package typed_test

import (
	"context"
	stderrors "errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/generator/typed/internal/feed"
	"github.com/seedmicro/micro/generator/typed/internal/feed/feedclient"
)

// receiver is a generated stream's receiving side.
type receiver[T any] interface {
	Recv() (*T, error)
}

// recvAll receives until the stream ends and returns the messages and the
// error that ended it (nil for io.EOF, a clean end).
func recvAll[T any](t *testing.T, s receiver[T]) ([]T, error) {
	t.Helper()
	var got []T
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			if m != nil {
				t.Errorf("Recv returned %+v with error %v", m, err)
			}
			return got, err
		}
		got = append(got, *m)
	}
}

// sender is a generated stream's sending side.
type sender[T any] interface {
	Send(*T) error
	CloseSend() error
}

// sendAll sends msgs, then half-closes when closeSend. Send returning
// io.EOF is no failure: the handler ended the stream early, and Recv says
// why.
func sendAll[T any](t *testing.T, s sender[T], msgs []T, closeSend bool) {
	t.Helper()
	for i := range msgs {
		if err := s.Send(&msgs[i]); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	if closeSend {
		if err := s.CloseSend(); err != nil {
			t.Fatal(err)
		}
	}
}

// wantEnd checks that a stream ended with code (OK: io.EOF) and, when msg
// is not empty, that message.
func wantEnd(t *testing.T, err error, code errors.Code, msg string) {
	t.Helper()
	if errors.CodeOf(err) != code {
		t.Fatalf("stream ended with %v (code %v), want %v", err, errors.CodeOf(err), code)
	}
	var e *errors.Error
	if msg != "" && (!stderrors.As(err, &e) || e.Message() != msg) {
		t.Fatalf("stream ended with %q, want the message %q", err, msg)
	}
}

// TestGeneratedStreams compiles the golden client of package feed (this
// file imports it) and runs each stream kind through it against a real
// server.
func TestGeneratedStreams(t *testing.T) {
	svc := startService(t, feed.ServiceName, func(svc *micro.Service) []error {
		return []error{svc.Handle(feed.Feed{})}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := feedclient.New(svc.Client())

	t.Run("unary beside streams", func(t *testing.T) {
		ev, err := c.Latest(ctx, &feed.WatchRequest{Topic: "a", Count: 4})
		if err != nil || *ev != (feed.Event{Topic: "a", Seq: 4}) {
			t.Fatalf("Latest: %+v, %v", ev, err)
		}
	})

	t.Run("server stream", func(t *testing.T) {
		tests := []struct {
			name  string
			req   feed.WatchRequest
			count int
			code  errors.Code
		}{
			{"ends with io.EOF", feed.WatchRequest{Topic: "a", Count: 3}, 3, errors.OK},
			{"no message", feed.WatchRequest{Topic: "a"}, 0, errors.OK},
			{"handler error after the last message", feed.WatchRequest{Topic: "b", Count: 2, Fail: "topic b closed"}, 2, errors.FailedPrecondition},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, err := c.Watch(ctx, &tt.req)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				got, err := recvAll(t, s)
				wantEnd(t, err, tt.code, tt.req.Fail)
				if len(got) != tt.count {
					t.Fatalf("%d events, want %d: %+v", len(got), tt.count, got)
				}
				for i, ev := range got {
					if ev != (feed.Event{Topic: tt.req.Topic, Seq: i + 1}) {
						t.Fatalf("event %d is %+v", i, ev)
					}
				}
				// The end is final: Recv returns it again.
				if _, err = s.Recv(); err == io.EOF {
					err = nil
				}
				wantEnd(t, err, tt.code, tt.req.Fail)
			})
		}
	})

	t.Run("client stream", func(t *testing.T) {
		tests := []struct {
			name string
			nums []int
			want []feed.Sum
			code errors.Code
		}{
			{"one answer after half-close", []int{1, 2, 3}, []feed.Sum{{Total: 6, Count: 3}}, errors.OK},
			{"nothing sent", nil, []feed.Sum{{}}, errors.OK},
			{"handler error", []int{1, -1}, nil, errors.InvalidArgument},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, err := c.Add(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var nums []feed.Number
				for _, n := range tt.nums {
					nums = append(nums, feed.Number{N: n})
				}
				sendAll(t, s, nums, true)
				got, err := recvAll(t, s)
				wantEnd(t, err, tt.code, "")
				if len(got) != len(tt.want) || (len(got) == 1 && got[0] != tt.want[0]) {
					t.Fatalf("answers %+v, want %+v", got, tt.want)
				}
			})
		}
	})

	t.Run("bidirectional stream", func(t *testing.T) {
		tests := []struct {
			name      string
			inTurn    []feed.Line // each sent and answered before the next
			lines     []feed.Line // then sent before anything is received
			closeSend bool
			want      []feed.Line // the answers to lines
			code      errors.Code
			msg       string
		}{
			{"in turn, then all at once", []feed.Line{{Text: "hello"}, {Text: "micro"}}, []feed.Line{{Text: "a"}, {Text: "b"}}, true,
				[]feed.Line{{Text: "A"}, {Text: "B"}}, errors.OK, ""},
			{"handler error after the last message", nil, []feed.Line{{Text: "x"}, {Text: "stop"}}, false,
				[]feed.Line{{Text: "X"}}, errors.Aborted, "stopped"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, err := c.Shout(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				for _, l := range tt.inTurn {
					sendAll(t, s, []feed.Line{l}, false)
					a, err := s.Recv()
					if err != nil {
						t.Fatal(err)
					}
					if want := strings.ToUpper(l.Text); a.Text != want {
						t.Fatalf("answer %q, want %q", a.Text, want)
					}
				}
				sendAll(t, s, tt.lines, tt.closeSend)
				got, err := recvAll(t, s)
				wantEnd(t, err, tt.code, tt.msg)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("answers %+v, want %+v", got, tt.want)
				}
			})
		}
	})

	t.Run("Close abandons", func(t *testing.T) {
		s, err := c.Watch(ctx, &feed.WatchRequest{Topic: "long", Count: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); errors.CodeOf(err) != errors.Canceled {
			t.Fatalf("Recv after Close: %v, want Canceled", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("WithService", func(t *testing.T) {
		other := feedclient.New(svc.Client(), feedclient.WithService("nowhere"))
		if _, err := other.Watch(ctx, &feed.WatchRequest{}); errors.CodeOf(err) != errors.NotFound {
			t.Fatalf("Watch: code %v (%v), want NotFound", errors.CodeOf(err), err)
		}
		if _, err := other.Shout(ctx); errors.CodeOf(err) != errors.NotFound {
			t.Fatalf("Shout: code %v (%v), want NotFound", errors.CodeOf(err), err)
		}
	})

	t.Run("WithCallOptions", func(t *testing.T) {
		// An address with no server: the option reaches the stream.
		dead := feedclient.New(svc.Client(), feedclient.WithCallOptions(client.WithAddress("127.0.0.1:1"), client.WithCallRetries(0)))
		if _, err := dead.Shout(ctx); errors.CodeOf(err) != errors.Unavailable {
			t.Fatalf("Shout: code %v (%v), want Unavailable", errors.CodeOf(err), err)
		}
	})
}
