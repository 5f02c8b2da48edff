package nats

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/seedmicro/micro/core/broker"
)

// handleJS handles one JetStream delivery.
func (s *subscription) handleJS(jm *natsgo.Msg) {
	if !s.enter() {
		_ = jm.Nak() // back to the server for another member, at once
		return
	}
	defer s.running.Done()
	s.handleEntered(jm)
}

// handleEntered handles one JetStream delivery once s.enter has counted
// it. Handlers of one subscription may run it concurrently: each has its
// message, and acks, naks and "in progress" are publishes, which the
// connection serialises.
func (s *subscription) handleEntered(jm *natsgo.Msg) {
	b := s.b
	md, err := jm.Metadata()
	if err != nil {
		b.log.Warn("nats: delivery without JetStream metadata; terminated", "err", err)
		_ = jm.Term()
		return
	}
	msg := decode(jm.Header, jm.Data, func() string {
		return md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	})
	msg.Header[broker.DeliveryHeader] = strconv.FormatUint(md.NumDelivered, 10)

	ka := startKeepAlive(jm, time.Duration(b.cfg.AckWait)/2)
	herr := s.call(msg)
	ka.stop()
	if herr == nil {
		b.ack.ack(jm)
		return
	}
	if b.cfg.MaxDeliver < 0 || md.NumDelivered < uint64(b.cfg.MaxDeliver) {
		_ = jm.NakWithDelay(time.Duration(b.cfg.NakDelay))
		return
	}
	s.giveUp(jm, msg, md, herr)
}

// giveUp handles a message rejected for the last time: copied to the
// dead-letter topic, if any, then terminated.
func (s *subscription) giveUp(jm *natsgo.Msg, msg *broker.Message, md *natsgo.MsgMetadata, herr error) {
	b := s.b
	log := b.log.With("topic", s.topic, "group", s.group, "id", msg.ID,
		"stream_seq", md.Sequence.Stream, "deliveries", md.NumDelivered, "err", herr)
	if b.cfg.DeadLetterTopic != "" {
		dead := &broker.Message{ID: msg.ID + DeadLetterIDSuffix, Header: make(map[string]string, len(msg.Header)+4), Body: msg.Body}
		for k, v := range msg.Header {
			if k != broker.DeliveryHeader {
				dead.Header[k] = v
			}
		}
		dead.Header[DeadLetterTopicHeader] = s.topic
		dead.Header[DeadLetterIDHeader] = msg.ID
		dead.Header[DeadLetterReasonHeader] = headerText(herr.Error())
		dead.Header[DeadLetterDeliveriesHeader] = strconv.FormatUint(md.NumDelivered, 10)
		ctx, cancel := context.WithTimeout(s.ctx, time.Duration(b.cfg.AckWait)/2)
		err := b.Publish(ctx, b.cfg.DeadLetterTopic, dead)
		cancel()
		if err != nil {
			// The server gives up by itself and publishes its
			// MAX_DELIVERIES advisory.
			log.Error("nats: could not copy a message to the dead-letter topic; left to the server's MaxDeliver",
				"dead_letter_topic", b.cfg.DeadLetterTopic, "publish_err", err)
			_ = jm.Nak()
			return
		}
		b.stats.deadLettered.Add(1)
		log.Warn("nats: message given up on; copied to the dead-letter topic", "dead_letter_topic", b.cfg.DeadLetterTopic)
	} else {
		log.Warn("nats: message given up on after MaxDeliver attempts; terminated, it stays in the stream until its age limit")
	}
	b.stats.terminated.Add(1)
	_ = jm.Term()
}

// Headers of a dead-letter copy, and the suffix of its ID (a copy needs an
// ID of its own, or the stream would drop it as a duplicate).
const (
	DeadLetterTopicHeader      = "Micro-Dead-Letter-Topic"
	DeadLetterIDHeader         = "Micro-Dead-Letter-Id"
	DeadLetterReasonHeader     = "Micro-Dead-Letter-Reason"
	DeadLetterDeliveriesHeader = "Micro-Dead-Letter-Deliveries"
	DeadLetterIDSuffix         = "#dead-letter"
)

// headerText makes s fit in a header value: one line, trimmed, at most 512
// bytes.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512]
	}
	return strings.TrimSpace(s)
}

// keepAlive tells the server, every interval while a handler runs, that its
// message is still in progress, so that AckWait does not expire under it.
type keepAlive struct {
	mu    sync.Mutex
	t     *time.Timer
	ended bool
}

func startKeepAlive(jm *natsgo.Msg, every time.Duration) *keepAlive {
	k := new(keepAlive)
	if every <= 0 {
		return k
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t = time.AfterFunc(every, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.ended {
			return
		}
		_ = jm.InProgress()
		k.t.Reset(every)
	})
	return k
}

func (k *keepAlive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ended = true
	if k.t != nil {
		k.t.Stop()
	}
}
