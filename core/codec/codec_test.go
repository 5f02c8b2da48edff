package codec_test

import (
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
