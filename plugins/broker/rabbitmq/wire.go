package rabbitmq

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
)

// ContentTypeHeader is the Message.Header key carried in the AMQP
// content-type property instead of the headers table.
const ContentTypeHeader = "Content-Type"

// deliveryCountHeader is the header in which a quorum queue counts the
// earlier deliveries of a message that came back to it.
const deliveryCountHeader = "x-delivery-count"

// maxName is the longest queue name, routing key, message ID or header key
// AMQP carries (a short string).
const maxName = 255

// QueueName returns the name of the durable queue that the members of queue
// group group subscribed to topic share, on a broker with exchange
// exchange: "<exchange>.<topic>.<group>". A name longer than the 255 bytes
// AMQP allows is cut to 200 bytes (at a character boundary) followed by
// "." and 16 hexadecimal digits of the SHA-256 of the full name, so it stays
// unique.
//
// Other programs can consume a group's messages from this queue, or inspect
// it with rabbitmqctl list_queues.
func QueueName(exchange, topic, group string) string {
	name := exchange + "." + topic + "." + group
	if len(name) <= maxName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	cut := 200
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "." + hex.EncodeToString(sum[:8])
}

// checkTopic reports a topic that cannot be a routing key.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("empty topic")
	case len(topic) > maxName:
		return fmt.Errorf("topic is %d bytes long; AMQP allows at most %d", len(topic), maxName)
	}
	return nil
}

// encode turns msg into an AMQP publishing with message ID id:
//
//   - id is the message-id property;
//   - Header[ContentTypeHeader] is the content-type property;
//   - every other header is an entry of the headers table with a string
//     (long string) value, except broker.DeliveryHeader, which is dropped;
//   - Body is the body, not copied: Publish returns only once it is sent;
//   - the delivery mode is persistent, the timestamp the time of publishing.
func encode(msg *broker.Message, id string) (amqp.Publishing, error) {
	if len(id) > maxName {
		return amqp.Publishing{}, fmt.Errorf("message ID is %d bytes long; AMQP allows at most %d", len(id), maxName)
	}
	p := amqp.Publishing{
		MessageId:    id,
		DeliveryMode: amqp.Persistent,
		Timestamp:    time.Now().Truncate(time.Second),
		Body:         msg.Body,
	}
	for k, v := range msg.Header {
		switch {
		case k == ContentTypeHeader:
			if len(v) > maxName {
				return amqp.Publishing{}, fmt.Errorf("header %s is %d bytes long; AMQP allows at most %d", k, len(v), maxName)
			}
			p.ContentType = v
			continue
		case k == broker.DeliveryHeader:
			continue
		case k == "":
			return amqp.Publishing{}, errors.New("empty header key")
		case len(k) > maxName:
			return amqp.Publishing{}, fmt.Errorf("header key is %d bytes long; AMQP allows at most %d", len(k), maxName)
		}
		if p.Headers == nil {
			p.Headers = make(amqp.Table, len(msg.Header))
		}
		p.Headers[k] = v
	}
	return p, nil
}

// decode turns d into a message for a handler's attempt number attempt
// (which goes into broker.DeliveryHeader). A delivery without message-id
// gets a new ID from newID. Entries of the headers table become headers,
// their values formatted by formatValue; entries that are tables or arrays,
// and the quorum queue's x-delivery-count, are left out.
func decode(d *amqp.Delivery, attempt int, newID func() string) *broker.Message {
	msg := &broker.Message{ID: d.MessageId, Body: d.Body}
	if msg.ID == "" {
		msg.ID = newID()
	}
	msg.Header = make(map[string]string, len(d.Headers)+2)
	for k, v := range d.Headers {
		if k == deliveryCountHeader {
			continue
		}
		if s, ok := formatValue(v); ok {
			msg.Header[k] = s
		}
	}
	if d.ContentType != "" {
		msg.Header[ContentTypeHeader] = d.ContentType
	}
	msg.Header[broker.DeliveryHeader] = strconv.Itoa(attempt)
	return msg
}

// formatValue formats a value of an AMQP headers table as a string; it
// reports false for tables and arrays.
func formatValue(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case []byte:
		return string(v), true
	case bool, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, float32, float64:
		// Decimal integers, and the shortest form of a float that reads
		// back as the same float ('g'), as strconv formats them.
		return fmt.Sprint(v), true
	case time.Time:
		return v.UTC().Format(time.RFC3339), true
	case amqp.Decimal:
		den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(v.Scale)), nil)
		return new(big.Rat).SetFrac(big.NewInt(int64(v.Value)), den).FloatString(int(v.Scale)), true
	}
	return "", false
}

// deliveryCount returns the number of earlier deliveries of a message that
// its quorum queue reports, and whether it does.
func deliveryCount(h amqp.Table) (int, bool) {
	switch v := h[deliveryCountHeader].(type) {
	case int64:
		return int(v), true
	case int32:
		return int(v), true
	case int16:
		return int(v), true
	case int8:
		return int(v), true
	case int:
		return v, true
	case uint8:
		return int(v), true
	case uint16:
		return int(v), true
	case uint32:
		return int(v), true
	case uint64:
		return int(v), true
	}
	return 0, false
}

// failureKey identifies a message in an exclusive queue across its
// redeliveries: its message-id or, without one, the SHA-256 of its body.
func failureKey(d *amqp.Delivery) string {
	if d.MessageId != "" {
		return "id:" + d.MessageId
	}
	sum := sha256.Sum256(d.Body)
	return "body:" + string(sum[:])
}
