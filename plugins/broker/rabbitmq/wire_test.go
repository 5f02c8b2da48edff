package rabbitmq

import (
	"bytes"
	"maps"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
)

// delivered returns the delivery a consumer gets for p.
func delivered(p amqp.Publishing, redelivered bool, count any) *amqp.Delivery {
	h := maps.Clone(p.Headers)
	if count != nil {
		if h == nil {
			h = amqp.Table{}
		}
		h[deliveryCountHeader] = count
	}
	return &amqp.Delivery{
		Headers: h, ContentType: p.ContentType, MessageId: p.MessageId,
		DeliveryMode: p.DeliveryMode, Timestamp: p.Timestamp, Body: p.Body, Redelivered: redelivered,
	}
}

// FuzzWire checks that a message encoded for AMQP and decoded again is the
// message, or that encode refuses it.
func FuzzWire(f *testing.F) {
	f.Add("id-1", "X-Key", "value", "application/json", []byte(`{"a":1}`))
	f.Add("", "", "", "", []byte{})
	f.Add("é", "Content-Type", "text/plain", "", []byte{0, 0xff})
	f.Add("x", broker.DeliveryHeader, "7", "a/b", []byte("z"))
	f.Fuzz(func(t *testing.T, id, key, value, contentType string, body []byte) {
		msg := &broker.Message{ID: id, Header: map[string]string{key: value}, Body: body}
		if contentType != "" {
			msg.Header[ContentTypeHeader] = contentType
		}
		p, err := encode(msg, id)
		if err != nil {
			return // refused: too long, or an empty key
		}
		if err := p.Headers.Validate(); err != nil {
			t.Fatalf("encode made an invalid headers table: %v", err)
		}
		got := decode(delivered(p, false, nil), 3, func() string { return "new" })
		if id == "" {
			id = "new"
		}
		if got.ID != id {
			t.Errorf("ID %q, want %q", got.ID, id)
		}
		if !bytes.Equal(got.Body, body) {
			t.Errorf("body %q, want %q", got.Body, body)
		}
		want := maps.Clone(msg.Header)
		if want[ContentTypeHeader] == "" {
			delete(want, ContentTypeHeader) // an empty content-type property is no property
		}
		want[broker.DeliveryHeader] = "3"
		if !maps.Equal(got.Header, want) {
			t.Errorf("header %q, want %q", got.Header, want)
		}
	})
}

func TestDecodeForeignHeaders(t *testing.T) {
	d := &amqp.Delivery{Headers: amqp.Table{
		"s": "text", "b": []byte("bytes"), "t": true, "i8": int8(-8), "i16": int16(16), "i32": int32(-32),
		"i64": int64(64), "u8": uint8(8), "u16": uint16(16), "u32": uint32(32), "f32": float32(1.5),
		"f64": 2.25, "ts": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "dec": amqp.Decimal{Scale: 2, Value: -1234},
		"nil": nil, "table": amqp.Table{"x": "y"}, "array": []any{"x"}, deliveryCountHeader: int64(4),
	}}
	got := decode(d, 5, func() string { return "new" })
	want := map[string]string{
		"s": "text", "b": "bytes", "t": "true", "i8": "-8", "i16": "16", "i32": "-32", "i64": "64",
		"u8": "8", "u16": "16", "u32": "32", "f32": "1.5", "f64": "2.25", "ts": "2026-01-02T03:04:05Z",
		"dec": "-12.34", "nil": "", broker.DeliveryHeader: "5",
	}
	if !maps.Equal(got.Header, want) {
		t.Errorf("header\n got %v\nwant %v", got.Header, want)
	}
	if got.ID != "new" {
		t.Errorf("ID %q, want a new one", got.ID)
	}
}

func TestDeliveryCount(t *testing.T) {
	tests := []struct {
		v    any
		want int
		ok   bool
	}{
		{int64(3), 3, true}, {int32(2), 2, true}, {int16(1), 1, true}, {uint8(4), 4, true},
		{"3", 0, false}, {nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(fmtAny(tt.v)), func(t *testing.T) {
			h := amqp.Table{}
			if tt.v != nil {
				h[deliveryCountHeader] = tt.v
			}
			n, ok := deliveryCount(h)
			if n != tt.want || ok != tt.ok {
				t.Errorf("deliveryCount = %d, %v; want %d, %v", n, ok, tt.want, tt.ok)
			}
		})
	}
}

func fmtAny(v any) string {
	s, _ := formatValue(v)
	return s
}
