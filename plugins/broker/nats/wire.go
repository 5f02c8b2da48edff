package nats

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	natsgo "github.com/nats-io/nats.go"

	"github.com/seedmicro/micro/core/broker"
)

// MsgIDHeader is the NATS header that carries Message.ID. JetStream uses it
// to drop a message published again within the stream's duplicate window.
const MsgIDHeader = "Nats-Msg-Id"

// ErrInvalidTopic is returned, wrapped, for a topic that cannot be a part of
// a NATS subject.
var ErrInvalidTopic = errors.New("nats: invalid topic")

// ErrInvalidHeader is returned, wrapped, by Publish for a message header that
// NATS headers cannot carry unchanged.
var ErrInvalidHeader = errors.New("nats: invalid message header")

// checkSubject reports whether s is a subject without wildcards: tokens
// separated by '.', none empty, none holding white space, '*' or '>'.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return fmt.Errorf("%q has an empty token (a leading, trailing or doubled '.')", s)
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return fmt.Errorf("%q holds %q; white space, control characters, '*' and '>' are not allowed", s, c)
			}
		}
	}
	return nil
}

// checkTopic reports a topic that cannot follow the subject prefix.
func checkTopic(topic string) error {
	if err := checkSubject(topic); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTopic, err)
	}
	return nil
}

// subject returns the subject of topic.
func subject(prefix, topic string) string { return prefix + "." + topic }

// DurableName returns the name of the durable consumer of a queue group:
// the topic and the group with every character that a consumer name cannot
// hold replaced by '_', joined by "__", shortened to 64 bytes each, and
// followed by '_' and 8 bytes of a SHA-256 of the exact topic and group in
// hex, so that two pairs that read the same after the replacement still
// get two consumers.
func DurableName(topic, group string) string {
	sum := sha256.Sum256([]byte(topic + "\x00" + group))
	return sanitizeName(topic) + "__" + sanitizeName(group) + "_" + hex.EncodeToString(sum[:8])
}

func sanitizeName(s string) string {
	const max = 64
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// checkHeader reports a header that a NATS header would not carry as it is:
// an empty key or one with bytes other than printable ASCII without ':'; a
// value with a line break or leading or trailing white space; a key of the
// reserved Nats- namespace.
func checkHeader(k, v string) error {
	if k == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidHeader)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("%w: key %q holds %q; keys are printable ASCII without ':'", ErrInvalidHeader, k, c)
		}
	}
	if len(k) >= 5 && strings.EqualFold(k[:5], "nats-") {
		return fmt.Errorf("%w: key %q is in the Nats- namespace, which NATS reserves", ErrInvalidHeader, k)
	}
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%w: value of %q holds a line break", ErrInvalidHeader, k)
	}
	if v != strings.TrimSpace(v) {
		return fmt.Errorf("%w: value of %q has leading or trailing white space, which NATS drops", ErrInvalidHeader, k)
	}
	return nil
}

// outMsg is a NATS message being published, kept in a pool: the client has
// written a message to its buffer when Publish returns, so the message, its
// header map and the header's value slices can serve the next Publish.
type outMsg struct {
	pool *sync.Pool // the pool of its broker
	m    natsgo.Msg
	vals []string // backing of the header values, one each
	size int64    // header and data bytes
}

// newOutPool returns a pool of outMsg.
func newOutPool() *sync.Pool {
	p := new(sync.Pool)
	p.New = func() any { return &outMsg{pool: p, m: natsgo.Msg{Header: make(natsgo.Header, 4)}} }
	return p
}

// encode fills a message of pool for subj with msg and id; release returns
// it to the pool.
func encode(pool *sync.Pool, subj, id string, msg *broker.Message) (*outMsg, error) {
	o := pool.Get().(*outMsg)
	clear(o.m.Header)
	o.vals = slices.Grow(o.vals[:0], len(msg.Header)+1)
	o.size = int64(len(msg.Body)) + 12 // "NATS/1.0\r\n" and the final "\r\n"
	add := func(k, v string) {
		o.vals = append(o.vals, v)
		o.m.Header[k] = o.vals[len(o.vals)-1 : len(o.vals) : len(o.vals)] // not Set: keep the key's case
		o.size += int64(len(k) + len(v) + 4)
	}
	for k, v := range msg.Header {
		if k == broker.DeliveryHeader {
			continue // the receiving broker sets it
		}
		if err := checkHeader(k, v); err != nil {
			o.release()
			return nil, err
		}
		add(k, v)
	}
	add(MsgIDHeader, id)
	o.m.Subject, o.m.Data = subj, msg.Body
	return o, nil
}

// release returns o to the pool, dropping what it refers to.
func (o *outMsg) release() {
	o.m.Subject, o.m.Data = "", nil
	clear(o.vals)
	o.pool.Put(o)
}

// decode returns the broker message of a NATS message's header and data: the ID from
// MsgIDHeader, else fallbackID(); every other header except the Nats-
// ones, first value only; the data as the body, not copied: the client
// allocates the data of each message it receives.
func decode(h natsgo.Header, data []byte, fallbackID func() string) *broker.Message {
	out := &broker.Message{Header: make(map[string]string, len(h)+1)}
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		if len(k) >= 5 && strings.EqualFold(k[:5], "nats-") {
			if strings.EqualFold(k, MsgIDHeader) {
				out.ID = vs[0]
			}
			continue
		}
		out.Header[k] = vs[0]
	}
	if out.ID == "" {
		out.ID = fallbackID()
	}
	if len(data) > 0 {
		out.Body = data
	}
	return out
}
