package direct

import (
	"errors"
	"strconv"
	"strings"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/transport"
)

// ServicePrefix starts the registry name of every topic's subscribers.
const ServicePrefix = "micro.broker."

// Names and keys of the delivery protocol.
const (
	// deliverEndpoint is the Endpoint of a delivery frame; its Service is
	// the subscription ID.
	deliverEndpoint = "Broker.Deliver"
	// protocolVersion is the registry version of subscriptions: the
	// version of the delivery protocol they speak.
	protocolVersion = "1"
	// metaID is the key of the first metadata pair of a delivery frame,
	// whose value is the message ID; the message headers follow it.
	metaID = ":id"
	// Node metadata of a subscription.
	metaTopic = "topic"
	metaQueue = "queue"
)

// ServiceName returns the registry service name under which the subscribers
// of topic are registered: ServicePrefix followed by the topic, in which
// every byte other than 'a'-'z', '0'-'9', '-' and '.' is written as '_'
// and two lower-case hex digits. So "orders.created" is registered as
// "micro.broker.orders.created" and "Orders_2" as
// "micro.broker._4frders_5f2". The escaping keeps names within what any
// registry accepts, and distinct topics never share a name.
//
// Each subscription is one node of that service: its ID is the subscription
// ID, its Address the subscriber's listener, and its metadata holds "topic"
// (the topic, unescaped) and "queue" (the queue group; empty for none).
func ServiceName(topic string) string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(ServicePrefix) + len(topic))
	b.WriteString(ServicePrefix)
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// outgoing is the broker's own copy of a published message, shared by its
// deliveries and never modified.
type outgoing struct {
	id     string
	header []string // key, value, ...; without broker.DeliveryHeader
	body   []byte
}

// newOutgoing copies msg, giving it id. With clone the body is copied too,
// for messages that outlive the Publish call.
func newOutgoing(id string, msg *broker.Message, clone bool) *outgoing {
	m := &outgoing{id: id, body: msg.Body, header: make([]string, 0, 2*len(msg.Header))}
	if clone && msg.Body != nil {
		m.body = append([]byte(nil), msg.Body...)
	}
	for k, v := range msg.Header {
		if k != broker.DeliveryHeader {
			m.header = append(m.header, k, v)
		}
	}
	return m
}

// frame returns the delivery frame of attempt number attempt to
// subscription sub.
func (m *outgoing) frame(sub string, attempt int) *transport.Frame {
	meta := make([]string, 0, 4+len(m.header))
	meta = append(meta, metaID, m.id, broker.DeliveryHeader, strconv.Itoa(attempt))
	return &transport.Frame{
		Service:  sub,
		Endpoint: deliverEndpoint,
		Meta:     append(meta, m.header...),
		Body:     m.body,
	}
}

// message returns a Message for the dead letter function.
func (m *outgoing) message() *broker.Message {
	h := make(map[string]string, len(m.header)/2)
	for i := 0; i+1 < len(m.header); i += 2 {
		h[m.header[i]] = m.header[i+1]
	}
	return &broker.Message{ID: m.id, Header: h, Body: append([]byte(nil), m.body...)}
}

var errMalformed = errors.New("direct: malformed delivery: metadata does not start with the message ID")

// decodeMessage turns a delivery frame into the message for the handler.
// The message's body aliases the frame's, which nothing else uses.
func decodeMessage(f *transport.Frame) (*broker.Message, error) {
	if len(f.Meta) < 2 || len(f.Meta)%2 != 0 || f.Meta[0] != metaID {
		return nil, errMalformed
	}
	h := make(map[string]string, len(f.Meta)/2-1)
	for i := 2; i < len(f.Meta); i += 2 {
		h[f.Meta[i]] = f.Meta[i+1]
	}
	return &broker.Message{ID: f.Meta[1], Header: h, Body: f.Body}, nil
}
