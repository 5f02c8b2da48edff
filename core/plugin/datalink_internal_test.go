package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// FuzzLinkFrame reads data-link frames from arbitrary bytes, as each side
// reads what the other wrote: no panic, no frame longer than its length
// says, and every frame that appendLinkFrame wrote reads back the same.
func FuzzLinkFrame(f *testing.F) {
	call, _ := appendLinkFrame(nil, linkPublish, marshalFunc(&pluginpb.PublishBatch{Calls: []*pluginpb.PublishCall{{Id: 7, Topic: "t", Message: &pluginpb.Message{Body: []byte("x")}}}, Cancel: []uint64{3}}))
	f.Add(call)
	f.Add([]byte{0, 0, 0, 2, linkHello, linkVersion})
	deliver, _ := appendLinkFrame(nil, linkDeliver, marshalFunc(&pluginpb.DeliveryBatch{Deliveries: []*pluginpb.Delivery{{Sub: 1, Id: 2, Message: &pluginpb.Message{Id: "m", Header: map[string]string{"a": "b"}, Body: []byte("x")}}, {Sub: 1, Id: 3, Cancel: true}}}))
	f.Add(deliver)
	answer, _ := appendLinkFrame(nil, linkAnswer, marshalFunc(&pluginpb.AnswerBatch{Answers: []*pluginpb.Answer{{Sub: 1, Id: 2, Reject: true, Error: "no"}}}))
	f.Add(append(answer, call...))
	f.Add([]byte{0x40, 0, 0, 1, linkPublish}) // over the limit
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 1, 0, linkPublish, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		read := 0
		for {
			typ, p, err := readLinkFrame(r, &buf)
			if err != nil {
				if err != io.EOF && !errors.Is(err, errLinkFrame) && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			read += 5 + len(p)
			if read > len(data) {
				t.Fatalf("frames of %d bytes from %d bytes of input", read, len(data))
			}
			switch typ { // what each side decodes: no panic
			case linkDeliver:
				var b pluginpb.DeliveryBatch
				_ = proto.Unmarshal(p, &b)
			case linkAnswer:
				var b pluginpb.AnswerBatch
				_ = proto.Unmarshal(p, &b)
			}
			if typ == linkPublish {
				var b pluginpb.PublishBatch
				if proto.Unmarshal(p, &b) == nil {
					again, err := appendLinkFrame(nil, linkPublish, marshalFunc(&b))
					if err != nil {
						t.Fatalf("re-encode: %v", err)
					}
					_, p2, err := readLinkFrame(bufio.NewReader(bytes.NewReader(again)), new([]byte))
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
	data := []byte{0x3f, 0xff, 0xff, 0xff, linkPublish, 1, 2, 3}
	var buf []byte
	if _, _, err := readLinkFrame(bufio.NewReaderSize(bytes.NewReader(data), 16), &buf); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if cap(buf) > 1<<21 {
		t.Fatalf("a buffer of %d bytes for 3 bytes of payload", cap(buf))
	}
}

// TestReadHello: the host takes the data link only after a hello of its
// version, and otherwise, a plugin built before the data link included,
// speaks gRPC only, after waiting at most linkHelloWait.
func TestReadHello(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	tests := []struct {
		name  string
		first []byte // what the plugin writes first; nil: nothing
		want  bool
	}{
		{"hello", []byte{0, 0, 0, 2, linkHello, linkVersion}, true},
		{"no hello", nil, false},
		{"another version", []byte{0, 0, 0, 2, linkHello, linkVersion + 1}, false},
		{"not a hello", []byte{0, 0, 0, 2, linkPublish, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, plugin := net.Pipe()
			defer host.Close()
			defer plugin.Close()
			if tt.first != nil {
				go plugin.Write(tt.first)
			}
			start := time.Now()
			d := readHello(host, quiet)
			if took := time.Since(start); took > linkHelloWait+time.Second {
				t.Errorf("readHello took %v; want at most about %v", took, linkHelloWait)
			}
			if (d != nil) != tt.want {
				t.Fatalf("data link taken: %v, want %v", d != nil, tt.want)
			}
			if d != nil {
				plugin.Close() // the reader ends, and registers nothing after
				deadline := time.Now().Add(5 * time.Second)
				for d.register(nil, 0) != 0 {
					if time.Now().After(deadline) {
						t.Fatal("the link is still up after the plugin's end closed")
					}
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
}

// TestUndeliverableRejected: a message the data link cannot carry (a
// header that is not UTF-8) is rejected by its plugin-side handler, with
// the reason, while the messages delivered with it reach the host.
func TestUndeliverableRejected(t *testing.T) {
	pc, hc := net.Pipe()
	defer pc.Close()
	defer hc.Close()
	d := newPluginData(pc)
	ss := &serverSub{data: d, key: 7, pending: make(map[uint64]chan answer), ended: make(chan struct{})}
	d.register(ss.key, ss)

	// The host: reads the deliveries and accepts each, and rejects the
	// cancellation of one.
	arrived := make(chan string, 3)
	go func() {
		r := bufio.NewReader(hc)
		var buf []byte
		for {
			typ, p, err := readLinkFrame(r, &buf)
			if err != nil {
				return
			}
			ds, err := decodeDeliveryBatch(p)
			if typ != linkDeliver || err != nil {
				t.Errorf("frame of type %d: %v", typ, err)
				return
			}
			for _, dl := range ds {
				if dl.cancel { // the handler gave up waiting
					ss.answer(&pluginpb.SubscribeRequest{Id: dl.id, Reject: true, Error: "cancelled"})
					continue
				}
				arrived <- string(dl.msg.Body)
				ss.answer(&pluginpb.SubscribeRequest{Id: dl.id})
			}
		}
	}()

	msgs := []*broker.Message{
		{Body: []byte("good 1")},
		{Body: []byte("bad"), Header: map[string]string{"k": "\xff"}},
		{Body: []byte("good 2")},
	}
	// Bounded: a handler left without an answer would wait for ever.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() { errs[i] = ss.handle(ctx, m) })
	}
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("the good messages' handlers returned %v and %v, want nil", errs[0], errs[2])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "UTF-8") || !strings.Contains(errs[1].Error(), `header "k"`) {
		t.Errorf("the bad message's handler returned %v, want a rejection naming the header and UTF-8", errs[1])
	}
	close(arrived)
	var got []string
	for b := range arrived {
		got = append(got, b)
	}
	slices.Sort(got)
	if fmt.Sprint(got) != "[good 1 good 2]" {
		t.Errorf("the host got %q, want the two good messages", got)
	}
}
