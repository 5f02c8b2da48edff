package transport_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/seedmicro/micro/core/transport"
)

func FuzzReadFrame(f *testing.F) {
	for _, fr := range []transport.Frame{
		{Kind: transport.KindRequest, ID: 1, Service: "s", Endpoint: "T.M", ContentType: "application/json", Timeout: 5, Meta: []string{"k", "v"}, Body: []byte("{}")},
		{Kind: transport.KindResponse, ID: 2, Code: 5, Message: "not found"},
		{Kind: transport.KindCancel, ID: 3},
	} {
		b, err := transport.AppendFrame(nil, &fr, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var in transport.Interner
		for {
			var fr transport.Frame
			err := transport.ReadFrame(r, &fr, limit, &in)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, transport.ErrMalformedFrame) && !errors.Is(err, transport.ErrFrameTooLarge) {
					t.Fatalf("unexpected error class: %v", err)
				}
				return
			}
			if len(fr.Body) > limit {
				t.Fatalf("body of %d bytes past the %d limit", len(fr.Body), limit)
			}
			// What decodes must encode back to a frame that decodes the same.
			b, err := transport.AppendFrame(nil, &fr, limit)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			var again transport.Frame
			if err := transport.ReadFrame(bufio.NewReader(bytes.NewReader(b)), &again, limit, nil); err != nil {
				t.Fatalf("decode of re-encoded frame: %v", err)
			}
			if fmt.Sprint(again) != fmt.Sprint(fr) {
				t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, again)
			}
		}
	})
}
