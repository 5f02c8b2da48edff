package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// FuzzLinkFrame reads data-link frames from arbitrary bytes, as each side
// reads what the other wrote: no panic, no frame longer than its length
// says, and every frame that AppendFrame wrote reads back the same.
func FuzzLinkFrame(f *testing.F) {
	call, _ := AppendFrame(nil, Publish, MarshalFunc(&pluginpb.PublishBatch{Calls: []*pluginpb.PublishCall{{Id: 7, Topic: "t", Message: &pluginpb.Message{Body: []byte("x")}}}, Cancel: []uint64{3}}))
	f.Add(call)
	f.Add([]byte{0, 0, 0, 2, Hello, Version})
	deliver, _ := AppendFrame(nil, Deliver, MarshalFunc(&pluginpb.DeliveryBatch{Deliveries: []*pluginpb.Delivery{{Sub: 1, Id: 2, Message: &pluginpb.Message{Id: "m", Header: map[string]string{"a": "b"}, Body: []byte("x")}}, {Sub: 1, Id: 3, Cancel: true}}}))
	f.Add(deliver)
	answer, _ := AppendFrame(nil, Answer, MarshalFunc(&pluginpb.AnswerBatch{Answers: []*pluginpb.Answer{{Sub: 1, Id: 2, Reject: true, Error: "no"}}}))
	f.Add(append(answer, call...))
	f.Add([]byte{0x40, 0, 0, 1, Publish}) // over the limit
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 1, 0, Publish, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		read := 0
		for {
			typ, p, err := ReadFrame(r, &buf)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFrame) && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			read += 5 + len(p)
			if read > len(data) {
				t.Fatalf("frames of %d bytes from %d bytes of input", read, len(data))
			}
			switch typ { // what each side decodes: no panic
			case Deliver:
				var b pluginpb.DeliveryBatch
				_ = proto.Unmarshal(p, &b)
			case Answer:
				var b pluginpb.AnswerBatch
				_ = proto.Unmarshal(p, &b)
			}
			if typ == Publish {
				var b pluginpb.PublishBatch
				if proto.Unmarshal(p, &b) == nil {
					again, err := AppendFrame(nil, Publish, MarshalFunc(&b))
					if err != nil {
						t.Fatalf("re-encode: %v", err)
					}
					_, p2, err := ReadFrame(bufio.NewReader(bytes.NewReader(again)), new([]byte))
					if err != nil {
						t.Fatalf("read back: %v", err)
					}
					var b2 pluginpb.PublishBatch
					if err := proto.Unmarshal(p2, &b2); err != nil || !proto.Equal(&b, &b2) {
						t.Fatalf("round trip: %v", err)
					}
				}
			}
		}
	})
}

// TestLinkFrameLengthBeforeAllocation: a length of a gigabyte without the
// bytes behind it allocates for what arrives, not for what it says.
func TestLinkFrameLengthBeforeAllocation(t *testing.T) {
	data := []byte{0x3f, 0xff, 0xff, 0xff, Publish, 1, 2, 3}
	var buf []byte
	if _, _, err := ReadFrame(bufio.NewReaderSize(bytes.NewReader(data), 16), &buf); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if cap(buf) > 1<<21 {
		t.Fatalf("a buffer of %d bytes for 3 bytes of payload", cap(buf))
	}
}
