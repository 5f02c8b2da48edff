package codec_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/seedmicro/micro/core/codec"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type hello struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
}

func TestForPicksProtoForProtoMessages(t *testing.T) {
	if got := codec.For(wrapperspb.String("x")).Name(); got != codec.ProtoName {
		t.Fatalf("For(proto.Message) = %s, want %s", got, codec.ProtoName)
	}
	if got := codec.For(&hello{}).Name(); got != codec.JSONName {
		t.Fatalf("For(struct) = %s, want %s", got, codec.JSONName)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		in := &hello{Name: "ada", Count: 3, Tags: []string{"a", "b"}}
		b, err := codec.JSON{}.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out hello
		if err := (codec.JSON{}).Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if out.Name != in.Name || out.Count != in.Count || len(out.Tags) != 2 {
			t.Fatalf("got %+v, want %+v", out, in)
		}
	})
	t.Run("proto", func(t *testing.T) {
		in := wrapperspb.String("grace")
		b, err := codec.Proto{}.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		out := new(wrapperspb.StringValue)
		if err := (codec.Proto{}).Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(in, out) {
			t.Fatalf("got %v, want %v", out, in)
		}
	})
}

// Append encodes after what the buffer holds, in place for proto and through
// Marshal for JSON, and the result decodes to the value.
func TestAppend(t *testing.T) {
	prefix := []byte("head")
	for _, tt := range []struct {
		c   codec.Codec
		in  any
		out any
	}{
		{codec.Proto{}, wrapperspb.String("grace"), new(wrapperspb.StringValue)},
		{codec.JSON{}, &hello{Name: "ada", Count: 3}, new(hello)},
	} {
		t.Run(tt.c.Name(), func(t *testing.T) {
			buf := append(make([]byte, 0, 64), prefix...)
			b, err := codec.Append(tt.c, buf, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:len(prefix)]) != string(prefix) {
				t.Fatalf("Append overwrote the buffer's contents: %q", b[:len(prefix)])
			}
			want, _ := tt.c.Marshal(tt.in)
			if string(b[len(prefix):]) != string(want) {
				t.Fatalf("Append wrote %q, Marshal %q", b[len(prefix):], want)
			}
			if err := tt.c.Unmarshal(b[len(prefix):], tt.out); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := codec.Append(codec.Proto{}, nil, &hello{}); err == nil {
		t.Fatal("Append of a non-proto value with the proto codec succeeded")
	}
}

func TestProtoRefusesNonProto(t *testing.T) {
	if _, err := (codec.Proto{}).Marshal(&hello{}); err == nil {
		t.Fatal("Marshal of a non-proto value succeeded")
	}
	if err := (codec.Proto{}).Unmarshal(nil, &hello{}); err == nil {
		t.Fatal("Unmarshal into a non-proto value succeeded")
	}
}

func TestByName(t *testing.T) {
	for _, name := range []string{codec.JSONName, codec.ProtoName, ""} {
		if _, err := codec.ByName(name); err != nil {
			t.Errorf("ByName(%q): %v", name, err)
		}
	}
	if _, err := codec.ByName("text/xml"); err == nil {
		t.Error("ByName(text/xml) succeeded; want an error naming the known types")
	}
}

func FuzzJSONUnmarshal(f *testing.F) {
	f.Add([]byte(`{"name":"x","count":1,"tags":["a"]}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v hello
		if err := (codec.JSON{}).Unmarshal(data, &v); err != nil {
			return
		}
		b, err := codec.JSON{}.Marshal(&v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var again hello
		if err := (codec.JSON{}).Unmarshal(b, &again); err != nil {
			t.Fatalf("decode of re-encoded value: %v", err)
		}
	})
}

func TestRawJSON(t *testing.T) {
	t.Run("sent as it is", func(t *testing.T) {
		in := codec.RawJSON(`{ "name" : "ada" }`)
		for _, v := range []any{in, &in} {
			b, err := codec.JSON{}.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, in) {
				t.Fatalf("Marshal(%T) = %q, want the bytes unchanged %q", v, b, in)
			}
		}
		var nilPtr *codec.RawJSON
		if b, err := (codec.JSON{}).Marshal(nilPtr); err != nil || string(b) != "null" {
			t.Fatalf("Marshal(nil *RawJSON) = %q, %v; want null", b, err)
		}
	})
	t.Run("received as a copy", func(t *testing.T) {
		data := []byte(`{"greeting":"hi"}`)
		out := make(codec.RawJSON, 0, 64)
		if err := (codec.JSON{}).Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		if string(out) != string(data) || cap(out) != 64 {
			t.Fatalf("Unmarshal into *RawJSON = %q (cap %d), want %q in the buffer given", out, cap(out), data)
		}
		data[2] = 'X'
		if out[2] != 'g' {
			t.Fatal("the RawJSON aliases the bytes it was decoded from")
		}
		if err := (codec.JSON{}).Unmarshal(nil, &out); err != nil || string(out) != `{"greeting":"hi"}` {
			t.Fatalf("empty input changed the RawJSON: %q, %v", out, err)
		}
	})
	t.Run("inside other values", func(t *testing.T) {
		v := struct {
			A codec.RawJSON `json:"a"`
			B codec.RawJSON `json:"b"`
		}{A: codec.RawJSON(`[1, 2]`)}
		b, err := json.Marshal(v)
		if err != nil || string(b) != `{"a":[1,2],"b":null}` {
			t.Fatalf("json.Marshal = %s, %v", b, err)
		}
		v.A, v.B = nil, nil
		if err := json.Unmarshal([]byte(`{"a": {"x": 1}, "b": "s"}`), &v); err != nil || string(v.A) != `{"x": 1}` || string(v.B) != `"s"` {
			t.Fatalf("json.Unmarshal: a=%s b=%s, %v", v.A, v.B, err)
		}
		if _, err := json.Marshal(struct{ A codec.RawJSON }{codec.RawJSON(`{bad`)}); err == nil {
			t.Fatal("json.Marshal of a struct holding invalid RawJSON succeeded")
		}
	})
}

// FuzzRawJSON checks that any bytes received into a RawJSON come out of
// it unchanged, and that for valid JSON the decoded value is the one
// json.RawMessage would give, up to its compaction.
func FuzzRawJSON(f *testing.F) {
	f.Add([]byte(`{"name":"x","count":1}`))
	f.Add([]byte(` [1, 2] `))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m codec.RawJSON
		if err := (codec.JSON{}).Unmarshal(data, &m); err != nil {
			t.Fatalf("Unmarshal into *RawJSON: %v", err)
		}
		if len(data) > 0 && !bytes.Equal(m, data) {
			t.Fatalf("Unmarshal gave %q, want %q", m, data)
		}
		b, err := codec.JSON{}.Marshal(m)
		if err != nil || !bytes.Equal(b, m) {
			t.Fatalf("Marshal gave %q, %v; want %q", b, err, m)
		}
		if !json.Valid(data) {
			return
		}
		var raw json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		var want, got bytes.Buffer
		json.Compact(&want, raw)
		json.Compact(&got, m)
		if want.String() != got.String() {
			t.Fatalf("RawJSON holds %q, json.RawMessage %q", got.String(), want.String())
		}
	})
}

func FuzzProtoUnmarshal(f *testing.F) {
	s, _ := structpb.NewStruct(map[string]any{"name": "x", "n": 1.5, "list": []any{"a", true}})
	b, _ := proto.Marshal(s)
	f.Add(b)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		v := new(structpb.Struct)
		if err := (codec.Proto{}).Unmarshal(data, v); err != nil {
			return
		}
		b, err := codec.Proto{}.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again := new(structpb.Struct)
		if err := (codec.Proto{}).Unmarshal(b, again); err != nil {
			t.Fatalf("decode of re-encoded value: %v", err)
		}
	})
}
