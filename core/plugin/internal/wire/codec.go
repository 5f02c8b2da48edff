package wire

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/seedmicro/micro/core/broker"
)

// The data link's messages that carry a broker message (PublishCall,
// Delivery) are encoded and decoded here, straight from and into
// broker.Message, instead of through the generated code and a
// pluginpb.Message in between: on the hot path that saves a copy of every
// header map and most of the generic code's work. The bytes are the
// protobuf encoding plugin.proto defines, field for field, so either side
// may use the generated code instead (codec_test.go checks both ways,
// and FuzzLinkCodec that both accept the same input). As the generated code
// does, strings must be valid UTF-8, fields of an unknown number (or of
// another wire type than plugin.proto gives them) are skipped, a field
// that occurs again replaces a scalar and merges into an embedded message.

// Field numbers, as in plugin.proto.
const (
	fMessageID     protowire.Number = 1
	fMessageHeader protowire.Number = 2
	fMessageBody   protowire.Number = 3
	fEntryKey      protowire.Number = 1
	fEntryValue    protowire.Number = 2

	fCallID       protowire.Number = 1
	fCallTopic    protowire.Number = 2
	fCallMessage  protowire.Number = 3
	fCallDeadline protowire.Number = 4
	fBatchCalls   protowire.Number = 1
	fBatchCancel  protowire.Number = 2

	fDeliverySub     protowire.Number = 1
	fDeliveryID      protowire.Number = 2
	fDeliveryMessage protowire.Number = 3
	fDeliveryCancel  protowire.Number = 4
	fDeliveries      protowire.Number = 1
)

// ErrInvalidUTF8 is a string field that is not valid UTF-8, which
// protobuf's string type does not allow.
var ErrInvalidUTF8 = errors.New("string field contains invalid UTF-8")

func appendString(b []byte, num protowire.Number, s string) ([]byte, error) {
	if s == "" {
		return b, nil
	}
	if !utf8.ValidString(s) {
		return b, ErrInvalidUTF8
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s), nil
}

func appendUvarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func sizeUvarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeString(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

// entrySize is the size of a header map entry's contents.
func entrySize(k, v string) int {
	return sizeString(fEntryKey, k) + sizeString(fEntryValue, v)
}

// messageSize is the size of the contents of the Message holding m.
func messageSize(m *broker.Message) int {
	n := sizeString(fMessageID, m.ID)
	for k, v := range m.Header {
		n += protowire.SizeTag(fMessageHeader) + protowire.SizeBytes(entrySize(k, v))
	}
	if len(m.Body) > 0 {
		n += protowire.SizeTag(fMessageBody) + protowire.SizeBytes(len(m.Body))
	}
	return n
}

// appendMessage appends field num holding the Message of m, whose
// contents are size bytes (messageSize).
func appendMessage(b []byte, num protowire.Number, m *broker.Message, size int) ([]byte, error) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	var err error
	if b, err = appendString(b, fMessageID, m.ID); err != nil {
		return b, fmt.Errorf("message ID: %w", err)
	}
	for k, v := range m.Header {
		b = protowire.AppendTag(b, fMessageHeader, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entrySize(k, v)))
		if b, err = appendString(b, fEntryKey, k); err == nil {
			b, err = appendString(b, fEntryValue, v)
		}
		if err != nil {
			return b, fmt.Errorf("header %q: %w", k, err)
		}
	}
	if len(m.Body) > 0 {
		b = protowire.AppendTag(b, fMessageBody, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Body)
	}
	return b, nil
}

// AppendPublishCall appends the contents of a PublishCall (not a field
// holding one): PublishBatchEncoded carries them as they are.
func AppendPublishCall(b []byte, id uint64, topic string, msg *broker.Message, deadline int64) ([]byte, error) {
	b = appendUvarint(b, fCallID, id)
	b, err := appendString(b, fCallTopic, topic)
	if err != nil {
		return b, fmt.Errorf("topic: %w", err)
	}
	if msg != nil {
		if b, err = appendMessage(b, fCallMessage, msg, messageSize(msg)); err != nil {
			return b, err
		}
	}
	return appendUvarint(b, fCallDeadline, uint64(deadline)), nil
}

// Delivery is a Delivery: a message of subscription sub, or the
// cancellation of one.
type Delivery struct {
	Sub, ID uint64
	Msg     *broker.Message // nil for a cancellation
	Cancel  bool
}

// AppendDeliveryBatch appends the contents of a DeliveryBatch of ds. A
// delivery that cannot be encoded (a string that is not UTF-8) is left
// out and handed to refuse with the reason, so that the others go.
func AppendDeliveryBatch(b []byte, ds []Delivery, refuse func(Delivery, error)) []byte {
	for _, d := range ds {
		start := len(b)
		n := sizeUvarint(fDeliverySub, d.Sub) + sizeUvarint(fDeliveryID, d.ID)
		var msgSize int
		if d.Msg != nil {
			msgSize = messageSize(d.Msg)
			n += protowire.SizeTag(fDeliveryMessage) + protowire.SizeBytes(msgSize)
		}
		if d.Cancel {
			n += protowire.SizeTag(fDeliveryCancel) + 1
		}
		b = protowire.AppendTag(b, fDeliveries, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = appendUvarint(b, fDeliverySub, d.Sub)
		b = appendUvarint(b, fDeliveryID, d.ID)
		if d.Msg != nil {
			var err error
			if b, err = appendMessage(b, fDeliveryMessage, d.Msg, msgSize); err != nil {
				b = b[:start]
				refuse(d, err)
				continue
			}
		}
		if d.Cancel {
			b = appendUvarint(b, fDeliveryCancel, 1)
		}
	}
	return b
}

// field is one field of a message being decoded.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // VarintType
	b   []byte // BytesType
}

// nextField consumes the field at the start of p and returns it with the
// rest of p. Fields of other wire types than varint and bytes come back
// with typ set and nothing else, already consumed.
func nextField(p []byte) (field, []byte, error) {
	num, typ, n := protowire.ConsumeTag(p)
	if n < 0 {
		return field{}, nil, protowire.ParseError(n)
	}
	if !num.IsValid() {
		return field{}, nil, fmt.Errorf("invalid field number %d", num)
	}
	p = p[n:]
	f := field{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(p)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(p)
	default:
		n = protowire.ConsumeFieldValue(num, typ, p)
	}
	if n < 0 {
		return field{}, nil, protowire.ParseError(n)
	}
	return f, p[n:], nil
}

func fieldString(f field) (string, error) {
	if !utf8.Valid(f.b) {
		return "", ErrInvalidUTF8
	}
	return string(f.b), nil
}

// decodeMessage merges the Message encoded in p into m, as the generated
// code merges a second occurrence of an embedded message. The body is
// copied: p is the link's read buffer.
func decodeMessage(p []byte, m *broker.Message) error {
	for len(p) > 0 {
		f, rest, err := nextField(p)
		if err != nil {
			return err
		}
		p = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fMessageID:
			if m.ID, err = fieldString(f); err != nil {
				return err
			}
		case fMessageHeader:
			k, v, err := decodeEntry(f.b)
			if err != nil {
				return err
			}
			if m.Header == nil {
				m.Header = make(map[string]string, 2)
			}
			m.Header[k] = v
		case fMessageBody:
			m.Body = append(make([]byte, 0, len(f.b)), f.b...)
		}
	}
	return nil
}

func decodeEntry(p []byte) (k, v string, err error) {
	for len(p) > 0 {
		f, rest, err := nextField(p)
		if err != nil {
			return "", "", err
		}
		p = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fEntryKey:
			k, err = fieldString(f)
		case fEntryValue:
			v, err = fieldString(f)
		}
		if err != nil {
			return "", "", err
		}
	}
	return k, v, nil
}

// Call is a PublishCall.
type Call struct {
	ID       uint64
	Topic    string
	Msg      *broker.Message // nil if the call has none
	Deadline int64           // Unix nanoseconds; 0 for none
}

// DecodePublishBatch decodes a PublishBatch (or PublishBatchEncoded: the
// same bytes).
func DecodePublishBatch(p []byte) (calls []*Call, cancel []uint64, err error) {
	for len(p) > 0 {
		f, rest, err := nextField(p)
		if err != nil {
			return nil, nil, err
		}
		p = rest
		switch {
		case f.num == fBatchCalls && f.typ == protowire.BytesType:
			c, err := decodePublishCall(f.b)
			if err != nil {
				return nil, nil, err
			}
			calls = append(calls, &c)
		case f.num == fBatchCancel && f.typ == protowire.VarintType:
			cancel = append(cancel, f.v)
		case f.num == fBatchCancel && f.typ == protowire.BytesType: // packed
			for b := f.b; len(b) > 0; {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return nil, nil, protowire.ParseError(n)
				}
				cancel = append(cancel, v)
				b = b[n:]
			}
		}
	}
	return calls, cancel, nil
}

func decodePublishCall(p []byte) (Call, error) {
	var c Call
	for len(p) > 0 {
		f, rest, err := nextField(p)
		if err != nil {
			return Call{}, err
		}
		p = rest
		switch {
		case f.num == fCallID && f.typ == protowire.VarintType:
			c.ID = f.v
		case f.num == fCallTopic && f.typ == protowire.BytesType:
			if c.Topic, err = fieldString(f); err != nil {
				return Call{}, err
			}
		case f.num == fCallMessage && f.typ == protowire.BytesType:
			if c.Msg == nil {
				c.Msg = new(broker.Message)
			}
			if err := decodeMessage(f.b, c.Msg); err != nil {
				return Call{}, err
			}
		case f.num == fCallDeadline && f.typ == protowire.VarintType:
			c.Deadline = int64(f.v)
		}
	}
	return c, nil
}

// DecodeDeliveryBatch decodes a DeliveryBatch.
func DecodeDeliveryBatch(p []byte) ([]Delivery, error) {
	var ds []Delivery
	for len(p) > 0 {
		f, rest, err := nextField(p)
		if err != nil {
			return nil, err
		}
		p = rest
		if f.num != fDeliveries || f.typ != protowire.BytesType {
			continue
		}
		var d Delivery
		for q := f.b; len(q) > 0; {
			g, rest, err := nextField(q)
			if err != nil {
				return nil, err
			}
			q = rest
			switch {
			case g.num == fDeliverySub && g.typ == protowire.VarintType:
				d.Sub = g.v
			case g.num == fDeliveryID && g.typ == protowire.VarintType:
				d.ID = g.v
			case g.num == fDeliveryMessage && g.typ == protowire.BytesType:
				if d.Msg == nil {
					d.Msg = new(broker.Message)
				}
				if err := decodeMessage(g.b, d.Msg); err != nil {
					return nil, err
				}
			case g.num == fDeliveryCancel && g.typ == protowire.VarintType:
				d.Cancel = g.v != 0
			}
		}
		ds = append(ds, d)
	}
	return ds, nil
}
