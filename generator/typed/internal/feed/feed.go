// Package feed is the fixture of the generator's stream tests: a handler
// with a unary endpoint and an endpoint of each stream kind. Its client,
// package feedclient, is a golden file that stream_test.go compiles and
// runs against a real server.
package feed

import (
	"context"
	"io"
	"strings"

	"github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/server"
)

//go:generate go run github.com/seedmicro/micro/cmd/micro-new gen .

// ServiceName is the name the feed registers under.
const ServiceName = "feed"

// WatchRequest asks for Count events on Topic, and for the stream to end
// with a FailedPrecondition error carrying Fail when it is not empty.
type WatchRequest struct {
	Topic string `json:"topic"`
	Count int    `json:"count"`
	Fail  string `json:"fail,omitempty"`
}

// Event is one event of a topic.
type Event struct {
	Topic string `json:"topic"`
	Seq   int    `json:"seq"`
}

// Number is one number to add.
type Number struct {
	N int `json:"n"`
}

// Sum is the sum of the numbers sent.
type Sum struct {
	Total int `json:"total"`
	Count int `json:"count"`
}

// Line is one line of a conversation.
type Line struct {
	Text string `json:"text"`
}

// Feed serves events.
type Feed struct{}

// Latest returns the latest event of req.Topic.
func (Feed) Latest(ctx context.Context, req *WatchRequest, rsp *Event) error {
	rsp.Topic, rsp.Seq = req.Topic, req.Count
	return nil
}

// Watch sends req.Count events of req.Topic, numbered from 1: a server
// stream.
func (Feed) Watch(ctx context.Context, req *WatchRequest, stream server.ServerStream[Event]) error {
	for i := 1; i <= req.Count; i++ {
		if err := stream.Send(&Event{Topic: req.Topic, Seq: i}); err != nil {
			return err
		}
	}
	if req.Fail != "" {
		return errors.New(errors.FailedPrecondition, req.Fail)
	}
	return nil
}

// Add sums the numbers sent, and answers once the client half-closed: a
// client stream. A negative number ends the stream with an InvalidArgument
// error.
func (Feed) Add(ctx context.Context, stream server.BidiStream[Number, Sum]) error {
	var sum Sum
	for {
		n, err := stream.Recv()
		if err == io.EOF {
			return stream.Send(&sum)
		}
		if err != nil {
			return err
		}
		if n.N < 0 {
			return errors.Errorf(errors.InvalidArgument, "number %d is negative", n.N)
		}
		sum.Total += n.N
		sum.Count++
	}
}

// Shout answers each line with the line in capitals: a bidirectional
// stream. The line "stop" ends it with an Aborted error.
func (Feed) Shout(ctx context.Context, stream server.BidiStream[Line, Line]) error {
	for {
		l, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if l.Text == "stop" {
			return errors.New(errors.Aborted, "stopped")
		}
		if err := stream.Send(&Line{Text: strings.ToUpper(l.Text)}); err != nil {
			return err
		}
	}
}
