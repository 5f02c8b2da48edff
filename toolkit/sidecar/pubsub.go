package sidecar

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seedmicro/micro/core/broker"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/toolkit/api"
)

// handleCall calls a service for the program, through the API gateway's
// handler: /call/SERVICE/... by its path rules, /call with a JSON body.
func (s *Sidecar) handleCall(w http.ResponseWriter, r *http.Request) {
	r2 := r.Clone(r.Context())
	if r.URL.Path == "/call" {
		r2.URL.Path = "/rpc"
	} else {
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/call")
	}
	r2.URL.RawPath = ""
	s.gw.ServeHTTP(w, r2)
}

func headersOf(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		if len(k) > len(api.DefaultMetadataPrefix) && strings.EqualFold(k[:len(api.DefaultMetadataPrefix)], api.DefaultMetadataPrefix) && len(vs) > 0 {
			out[strings.ToLower(k[len(api.DefaultMetadataPrefix):])] = strings.Join(vs, ",")
		}
	}
	return out
}

func (s *Sidecar) handlePublish(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if topic == "" {
		api.WriteError(w, invalid("no topic: POST /publish/TOPIC with the event as JSON body"))
		return
	}
	if s.brk == nil {
		api.WriteError(w, merrors.New(merrors.FailedPrecondition, "the sidecar has no broker"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.maxBody))
	if err != nil {
		api.WriteError(w, invalid("read the event: %v", err))
		return
	}
	if !json.Valid(body) {
		api.WriteError(w, invalid("the event is not valid JSON"))
		return
	}
	h := headersOf(r.Header)
	h["Content-Type"] = "application/json"
	if err := s.brk.Publish(r.Context(), topic, &broker.Message{Header: h, Body: body}); err != nil {
		code := merrors.CodeOf(err)
		if code == merrors.Unknown {
			code = merrors.Unavailable
		}
		api.WriteError(w, merrors.Errorf(code, "publish to %s: %v", topic, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "published": true})
}

// Subscription is the body of POST /subscribe.
type Subscription struct {
	Topic    string `json:"topic"`
	Queue    string `json:"queue,omitempty"`
	Callback string `json:"callback"`
}

type pushSub struct {
	id  string
	req Subscription
	sub broker.Subscription
}

func (s *Sidecar) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	var req Subscription
	if !s.decode(w, r, &req, `{"topic": "orders.created", "queue": "billing", "callback": "http://127.0.0.1:3000/events"}`) {
		return
	}
	if req.Topic == "" {
		api.WriteError(w, invalid("topic is required"))
		return
	}
	cb, err := url.Parse(req.Callback)
	if err != nil || (cb.Scheme != "http" && cb.Scheme != "https") || cb.Host == "" {
		api.WriteError(w, invalid("callback %q: want the URL the events are POSTed to, such as http://127.0.0.1:3000/events", req.Callback))
		return
	}
	if s.brk == nil {
		api.WriteError(w, merrors.New(merrors.FailedPrecondition, "the sidecar has no broker"))
		return
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	ps := &pushSub{id: hex.EncodeToString(rnd[:]), req: req}
	var opts []broker.SubscribeOption
	if req.Queue != "" {
		opts = append(opts, broker.Queue(req.Queue))
	}
	sub, err := s.brk.Subscribe(context.Background(), req.Topic, func(ctx context.Context, msg *broker.Message) error {
		return s.push(ctx, ps, msg)
	}, opts...)
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "subscribe to %s: %v", req.Topic, err))
		return
	}
	ps.sub = sub
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sub.Unsubscribe(context.Background())
		api.WriteError(w, merrors.New(merrors.Unavailable, "the sidecar is shutting down"))
		return
	}
	s.subs[ps.id] = ps
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": ps.id, "topic": req.Topic})
}

// push delivers msg to the callback, retrying; the error it returns after
// the last attempt nacks the message.
func (s *Sidecar) push(ctx context.Context, ps *pushSub, msg *broker.Message) error {
	var last error
	for attempt := 1; attempt <= s.opts.maxAttempts; attempt++ {
		if attempt > 1 {
			select {
			case <-time.After(s.opts.backoff(attempt)):
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return errors.New("sidecar closed")
			}
		}
		if last = s.deliver(ctx, ps, msg, attempt); last == nil {
			return nil
		}
		s.opts.logger.Warn("delivery failed", "topic", ps.req.Topic, "callback", ps.req.Callback, "attempt", attempt, "error", last)
	}
	return fmt.Errorf("callback %s: %d attempts failed, the last: %w", ps.req.Callback, s.opts.maxAttempts, last)
}

func (s *Sidecar) deliver(ctx context.Context, ps *pushSub, msg *broker.Message, attempt int) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ps.req.Callback, bytes.NewReader(msg.Body))
	if err != nil {
		return err
	}
	ct := msg.Header["Content-Type"]
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Micro-Topic", ps.req.Topic)
	req.Header.Set("Micro-Message-Id", msg.ID)
	req.Header.Set("Micro-Attempt", strconv.Itoa(attempt))
	for k, v := range msg.Header {
		if k != "Content-Type" {
			req.Header.Set(api.DefaultMetadataPrefix+k, v)
		}
	}
	return s.send(req)
}

func (s *Sidecar) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	ps := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	if ps == nil {
		api.WriteError(w, notFound("no subscription %q", id))
		return
	}
	if err := ps.sub.Unsubscribe(r.Context()); err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "unsubscribe: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// handleStream streams the deliveries of a topic as Server-Sent Events.
func (s *Sidecar) handleStream(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	fl, ok := w.(http.Flusher)
	if !ok || topic == "" {
		api.WriteError(w, invalid("GET /subscribe/TOPIC streams a topic's events"))
		return
	}
	if s.brk == nil {
		api.WriteError(w, merrors.New(merrors.FailedPrecondition, "the sidecar has no broker"))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type delivery struct {
		msg  *broker.Message
		done chan struct{}
	}
	deliveries := make(chan delivery)
	var opts []broker.SubscribeOption
	if q := r.URL.Query().Get("queue"); q != "" {
		opts = append(opts, broker.Queue(q))
	}
	sub, err := s.brk.Subscribe(ctx, topic, func(hctx context.Context, msg *broker.Message) error {
		d := delivery{msg: msg, done: make(chan struct{})}
		select {
		case deliveries <- d:
		case <-ctx.Done():
			return errors.New("stream closed")
		case <-hctx.Done():
			return hctx.Err()
		}
		select {
		case <-d.done:
			return nil
		case <-ctx.Done():
			return errors.New("stream closed")
		}
	}, opts...)
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "subscribe to %s: %v", topic, err))
		return
	}
	// The handler may wait to hand a delivery over: end the stream's context
	// first, which releases it, then unsubscribe, which waits for it.
	defer func() {
		cancel()
		sub.Unsubscribe(context.Background())
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": subscribed to %s\n\n", strings.ReplaceAll(topic, "\n", " "))
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			io.WriteString(w, ": ping\n\n")
			fl.Flush()
		case d := <-deliveries:
			id := strings.NewReplacer("\n", "", "\r", "").Replace(d.msg.ID)
			var data bytes.Buffer
			if err := json.Compact(&data, d.msg.Body); err != nil {
				data.Reset()
				json.NewEncoder(&data).Encode(string(d.msg.Body)) // not JSON: send it as a JSON string
				data.Truncate(data.Len() - 1)
			}
			fmt.Fprintf(w, "event: message\nid: %s\ndata: %s\n\n", id, data.Bytes())
			fl.Flush()
			close(d.done)
		}
	}
}
