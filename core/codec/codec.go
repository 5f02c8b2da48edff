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

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON into v. Empty input leaves v unchanged.
func (JSON) Unmarshal(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, v)
}

// Proto encodes protocol buffer messages. Values must implement proto.Message.
type Proto struct{}

var _ Codec = Proto{}

// Name returns "application/protobuf".
func (Proto) Name() string { return ProtoName }

// Marshal encodes v, which must be a proto.Message.
func (Proto) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: proto codec cannot marshal %T: it is not a proto.Message", v)
	}
	return proto.Marshal(m)
}

// Unmarshal decodes data into v, which must be a proto.Message.
func (Proto) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: proto codec cannot unmarshal into %T: it is not a proto.Message", v)
	}
	return proto.Unmarshal(data, m)
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
