// Package codec turns Go values into bytes and back. A codec is named by the
// content type it writes; the name travels on the wire with every message so
// the receiver decodes with the same codec.
package codec

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Codec marshals and unmarshals values.
type Codec interface {
	// Name is the content type, e.g. "application/json".
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// Appender is implemented by codecs that can encode into a caller's buffer,
// which spares an allocation per message when the buffer is reused.
type Appender interface {
	// MarshalAppend appends the encoding of v to b.
	MarshalAppend(b []byte, v any) ([]byte, error)
}

// Append appends the encoding of v by c to b: in place when c is an
// Appender, through Marshal otherwise.
func Append(c Codec, b []byte, v any) ([]byte, error) {
	if a, ok := c.(Appender); ok {
		return a.MarshalAppend(b, v)
	}
	m, err := c.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, m...), nil
}

// Content types of the built-in codecs.
const (
	JSONName  = "application/json"
	ProtoName = "application/protobuf"
)

// JSON encodes with encoding/json.
type JSON struct{}

var _ Codec = JSON{}

// Name returns "application/json".
func (JSON) Name() string { return JSONName }

// Marshal encodes v as JSON. A RawJSON (or *RawJSON) is returned as it
// is, not copied.
func (JSON) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case RawJSON:
		return m, nil
	case *RawJSON:
		if m != nil {
			return *m, nil
		}
	}
	return json.Marshal(v)
}

// Unmarshal decodes JSON into v. Empty input leaves v unchanged. Into a
// *RawJSON it copies data as it is.
func (JSON) Unmarshal(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	if m, ok := v.(*RawJSON); ok {
		*m = append((*m)[:0], data...)
		return nil
	}
	return json.Unmarshal(data, v)
}

// RawJSON is a message that is JSON already, for programs that relay JSON
// from elsewhere (the HTTP gateway). The JSON codec sends its bytes as they
// are, and decodes a message into a *RawJSON by copying the bytes received
// into it (reusing its capacity): neither validates nor re-encodes them,
// so the program that makes a RawJSON vouches that it holds one valid JSON
// value, and the one that receives it checks it if it must. An empty
// RawJSON is an empty body, which the receiving JSON codec leaves as the
// zero value. Inside other values, encoding/json treats it as it does
// json.RawMessage (validated and compacted).
type RawJSON []byte

// MarshalJSON returns m, or null when m is empty.
func (m RawJSON) MarshalJSON() ([]byte, error) {
	if len(m) == 0 {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON sets *m to a copy of data.
func (m *RawJSON) UnmarshalJSON(data []byte) error {
	*m = append((*m)[:0], data...)
	return nil
}

// Proto encodes protocol buffer messages. Values must implement proto.Message.
type Proto struct{}

var (
	_ Codec    = Proto{}
	_ Appender = Proto{}
)

// Name returns "application/protobuf".
func (Proto) Name() string { return ProtoName }

// Marshal encodes v, which must be a proto.Message.
func (Proto) Marshal(v any) ([]byte, error) {
	m, err := protoMessage(v, "marshal")
	if err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

// MarshalAppend appends the encoding of v, which must be a proto.Message, to b.
func (Proto) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, err := protoMessage(v, "marshal")
	if err != nil {
		return b, err
	}
	return proto.MarshalOptions{}.MarshalAppend(b, m)
}

// Unmarshal decodes data into v, which must be a proto.Message.
func (Proto) Unmarshal(data []byte, v any) error {
	m, err := protoMessage(v, "unmarshal into")
	if err != nil {
		return err
	}
	return proto.Unmarshal(data, m)
}

// protoMessage returns v as a proto.Message, or an error naming what the
// proto codec cannot do with v.
func protoMessage(v any, what string) (proto.Message, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: proto codec cannot %s %T: it is not a proto.Message", what, v)
	}
	return m, nil
}

// For returns the codec to use for v: Proto when v is a proto.Message, JSON
// otherwise.
func For(v any) Codec {
	if _, ok := v.(proto.Message); ok {
		return Proto{}
	}
	return JSON{}
}

// ByName returns the built-in codec with the given content type.
func ByName(name string) (Codec, error) {
	switch name {
	case JSONName, "":
		return JSON{}, nil
	case ProtoName, "application/x-protobuf", "application/proto":
		return Proto{}, nil
	}
	return nil, fmt.Errorf("codec: unknown content type %q (known: %s, %s)", name, JSONName, ProtoName)
}
