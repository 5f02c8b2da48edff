package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/codec"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
)

// Event is what subscriber middleware sees.
type Event struct {
	Topic   string
	Message *broker.Message
	// Body is the decoded event: a pointer to the subscriber's type.
	Body any
}

// SubscriberHandler handles one event; nil acknowledges it.
type SubscriberHandler func(ctx context.Context, ev *Event) error

// SubscriberMiddleware wraps a SubscriberHandler.
type SubscriberMiddleware func(next SubscriberHandler) SubscriberHandler

// ContentTypeHeader is the broker message header that names the codec of
// the body.
const ContentTypeHeader = "Content-Type"

type subscriber struct {
	s        *Server
	topic    string
	queue    string
	fn       reflect.Value
	typ      reflect.Type
	endpoint *registry.Endpoint
	handler  SubscriberHandler
	sub      broker.Subscription
}

// Subscribe registers fn, a func(ctx context.Context, ev *T) error, to
// receive the events published on topic. Returning nil acknowledges the
// event; an error asks the broker to redeliver it. See Queue and Broadcast
// for how instances share events.
func (s *Server) Subscribe(topic string, fn any, opts ...SubscribeOption) error {
	if topic == "" {
		return errors.New("server: Subscribe with an empty topic")
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func || t.NumIn() != 2 || t.NumOut() != 1 || t.In(0) != ctxType ||
		t.In(1).Kind() != reflect.Pointer || t.Out(0) != errorType {
		return fmt.Errorf("server: subscriber for %q has type %s; it must look like func(ctx context.Context, ev *T) error", topic, t)
	}
	var so subOptions
	for _, o := range opts {
		o.applySub(&so)
	}
	queue := so.queue
	if queue == "" && !so.noQueue {
		queue = s.opts.name
	}
	sub := &subscriber{s: s, topic: topic, queue: queue, fn: v, typ: t.In(1).Elem()}
	sub.endpoint = &registry.Endpoint{
		Name:     "Subscriber." + topic,
		Request:  schemaOf(sub.typ.Name(), sub.typ, 0),
		Metadata: map[string]string{"subscriber": "true", "topic": topic, "queue": queue},
	}
	h := SubscriberHandler(func(ctx context.Context, ev *Event) error {
		out := sub.fn.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), reflect.ValueOf(ev.Body)})
		if err := out[0].Interface(); err != nil {
			return err.(error)
		}
		return nil
	})
	for i := len(s.opts.subscriberMW) - 1; i >= 0; i-- {
		h = s.opts.subscriberMW[i](h)
	}
	sub.handler = h
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server: Subscribe after Start; register subscribers before starting")
	}
	s.subs = append(s.subs, sub)
	return nil
}

func (sub *subscriber) start(ctx context.Context) error {
	var opts []broker.SubscribeOption
	if sub.queue != "" {
		opts = append(opts, broker.Queue(sub.queue))
	}
	bs, err := sub.s.opts.broker.Subscribe(ctx, sub.topic, sub.deliver, opts...)
	if err != nil {
		return fmt.Errorf("server: subscribe to %q: %w", sub.topic, err)
	}
	sub.sub = bs
	return nil
}

func (sub *subscriber) stop(ctx context.Context) error {
	if sub.sub == nil {
		return nil
	}
	err := sub.sub.Unsubscribe(ctx)
	sub.sub = nil
	if err != nil {
		return fmt.Errorf("server: unsubscribe from %q: %w", sub.topic, err)
	}
	return nil
}

func (sub *subscriber) deliver(ctx context.Context, msg *broker.Message) (err error) {
	c, err := codec.ByName(msg.Header[ContentTypeHeader])
	if err != nil {
		return fmt.Errorf("event on %q: %w", sub.topic, err)
	}
	v := newValue(sub.typ)
	if err := c.Unmarshal(msg.Body, v); err != nil {
		return fmt.Errorf("event on %q: decode into %s: %w", sub.topic, sub.typ, err)
	}
	if len(msg.Header) > 0 {
		md := make(metadata.MD, len(msg.Header))
		for k, val := range msg.Header {
			md.Set(k, val)
		}
		ctx = metadata.NewContext(ctx, md)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("subscriber for %q panicked: %v", sub.topic, r)
		}
	}()
	return sub.handler(ctx, &Event{Topic: sub.topic, Message: msg, Body: v})
}
