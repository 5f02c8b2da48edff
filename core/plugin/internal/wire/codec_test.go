package wire

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// sameMessage says whether the broker message a and the protocol message b
// hold the same ID, header and body (an empty body and none are the same).
func sameMessage(a *broker.Message, b *pluginpb.Message) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.ID == b.Id && maps.Equal(a.Header, b.Header) && len(a.Header) == len(b.Header) && bytes.Equal(a.Body, b.Body)
}

func randomString(r *rand.Rand) string {
	const chars = "aZ09-_.:/ é€😀"
	rs := []rune(chars)
	n := r.IntN(12)
	if r.IntN(4) == 0 {
		n = 0
	}
	s := make([]rune, n)
	for i := range s {
		s[i] = rs[r.IntN(len(rs))]
	}
	return string(s)
}

func randomMessage(r *rand.Rand) *broker.Message { return randomMessageUpTo(r, 3000) }

// randomMessageUpTo returns a random message (or nil) with a body of at
// most max bytes.
func randomMessageUpTo(r *rand.Rand, max int) *broker.Message {
	if r.IntN(8) == 0 {
		return nil
	}
	m := &broker.Message{ID: randomString(r)}
	if n := r.IntN(4); n > 0 {
		m.Header = map[string]string{}
		for range n {
			m.Header[randomString(r)] = randomString(r)
		}
	}
	if n := r.IntN(max); n > 0 && r.IntN(5) != 0 {
		m.Body = make([]byte, n)
		for i := range m.Body {
			m.Body[i] = byte(r.Uint32())
		}
	}
	return m
}

func toPB(m *broker.Message) *pluginpb.Message {
	if m == nil {
		return nil
	}
	return &pluginpb.Message{Id: m.ID, Header: m.Header, Body: m.Body}
}

// TestLinkCodecPublishCalls encodes calls with AppendPublishCall and
// decodes them with the generated code, and the other way round with
// DecodePublishBatch: every field comes through.
func TestLinkCodecPublishCalls(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var (
			enc   pluginpb.PublishBatchEncoded
			want  pluginpb.PublishBatch
			calls []Call
		)
		for range r.IntN(5) {
			c := Call{ID: r.Uint64() >> r.IntN(64), Topic: randomString(r), Msg: randomMessage(r), Deadline: r.Int64() - r.Int64()}
			if r.IntN(3) == 0 {
				c.Deadline = 0
			}
			b, err := AppendPublishCall(nil, c.ID, c.Topic, c.Msg, c.Deadline)
			if err != nil {
				t.Fatal(err)
			}
			enc.Calls = append(enc.Calls, b)
			want.Calls = append(want.Calls, &pluginpb.PublishCall{Id: c.ID, Topic: c.Topic, Message: toPB(c.Msg), Deadline: c.Deadline})
			calls = append(calls, c)
		}
		for range r.IntN(3) {
			enc.Cancel = append(enc.Cancel, r.Uint64())
		}
		want.Cancel = enc.Cancel

		// Hand-encoded calls, read by the generated code.
		wire, err := proto.Marshal(&enc)
		if err != nil {
			t.Fatal(err)
		}
		var got pluginpb.PublishBatch
		if err := proto.Unmarshal(wire, &got); err != nil {
			t.Fatalf("round %d: generated code rejects the hand-encoded calls: %v", round, err)
		}
		if len(got.Calls) != len(calls) {
			t.Fatalf("round %d: %d calls, want %d", round, len(got.Calls), len(calls))
		}
		for i, c := range calls {
			g := got.Calls[i]
			if g.Id != c.ID || g.Topic != c.Topic || g.Deadline != c.Deadline || !sameMessage(c.Msg, g.Message) {
				t.Fatalf("round %d call %d: generated code read %v, want %+v", round, i, g, c)
			}
		}

		// Generated encoding, read by DecodePublishBatch.
		wire, err = proto.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		dec, cancel, err := DecodePublishBatch(wire)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if fmt.Sprint(cancel) != fmt.Sprint(want.Cancel) || len(dec) != len(calls) {
			t.Fatalf("round %d: decoded %d calls and cancels %v, want %d and %v", round, len(dec), cancel, len(calls), want.Cancel)
		}
		for i, c := range dec {
			w := want.Calls[i]
			if c.ID != w.Id || c.Topic != w.Topic || c.Deadline != w.Deadline || !sameMessage(c.Msg, w.Message) {
				t.Fatalf("round %d call %d: decoded %+v, want %v", round, i, c, w)
			}
		}
	}
}

// TestLinkCodecDeliveries does the same for batches of deliveries.
func TestLinkCodecDeliveries(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		var (
			ds   []Delivery
			want pluginpb.DeliveryBatch
		)
		for range r.IntN(6) {
			d := Delivery{Sub: r.Uint64() >> r.IntN(64), ID: r.Uint64() >> r.IntN(64), Msg: randomMessage(r)}
			d.Cancel = d.Msg == nil
			ds = append(ds, d)
			want.Deliveries = append(want.Deliveries, &pluginpb.Delivery{Sub: d.Sub, Id: d.ID, Message: toPB(d.Msg), Cancel: d.Cancel})
		}
		wire := AppendDeliveryBatch(nil, ds, func(d Delivery, err error) {
			t.Fatalf("round %d: delivery %d refused: %v", round, d.ID, err)
		})
		var got pluginpb.DeliveryBatch
		if err := proto.Unmarshal(wire, &got); err != nil {
			t.Fatalf("round %d: generated code rejects the hand-encoded deliveries: %v", round, err)
		}
		if !proto.Equal(&got, &want) {
			t.Fatalf("round %d: generated code read %v, want %v", round, &got, &want)
		}

		wire, err := proto.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := DecodeDeliveryBatch(wire)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(dec) != len(ds) {
			t.Fatalf("round %d: %d deliveries, want %d", round, len(dec), len(ds))
		}
		for i, d := range dec {
			w := want.Deliveries[i]
			if d.Sub != w.Sub || d.ID != w.Id || d.Cancel != w.Cancel || !sameMessage(d.Msg, w.Message) {
				t.Fatalf("round %d delivery %d: decoded %+v, want %v", round, i, d, w)
			}
		}
	}
}

// TestLinkCodecInvalidUTF8: a string that is not UTF-8 is refused both
// ways, as the generated code refuses it, with what it was in the error;
// in a batch of deliveries, only the delivery that holds it is.
func TestLinkCodecInvalidUTF8(t *testing.T) {
	bad := "\xff\xfe"
	for _, tt := range []struct {
		topic string
		msg   *broker.Message
		in    string
	}{
		{topic: bad, msg: &broker.Message{}, in: "topic"},
		{topic: "t", msg: &broker.Message{ID: bad}, in: "message ID"},
		{topic: "t", msg: &broker.Message{Header: map[string]string{bad: "v"}}, in: "header"},
		{topic: "t", msg: &broker.Message{Header: map[string]string{"k": bad}}, in: `header "k"`},
	} {
		_, err := AppendPublishCall(nil, 1, tt.topic, tt.msg, 0)
		if !errors.Is(err, ErrInvalidUTF8) || !bytes.Contains([]byte(err.Error()), []byte(tt.in)) {
			t.Errorf("AppendPublishCall(%q, %+v) = %v, want an invalid UTF-8 error naming the %s", tt.topic, tt.msg, err, tt.in)
		}
		if tt.in == "topic" {
			continue // deliveries carry no topic
		}
		var refused []uint64
		wire := AppendDeliveryBatch(nil, []Delivery{
			{Sub: 1, ID: 1, Msg: &broker.Message{Body: []byte("before")}},
			{Sub: 1, ID: 2, Msg: tt.msg},
			{Sub: 1, ID: 3, Msg: &broker.Message{Body: []byte("after")}},
		}, func(d Delivery, err error) {
			if !errors.Is(err, ErrInvalidUTF8) || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("delivery %d refused with %v, want an invalid UTF-8 error naming the %s", d.ID, err, tt.in)
			}
			refused = append(refused, d.ID)
		})
		if fmt.Sprint(refused) != "[2]" {
			t.Errorf("%+v: refused deliveries %v, want [2]", tt.msg, refused)
		}
		var got pluginpb.DeliveryBatch
		if err := proto.Unmarshal(wire, &got); err != nil {
			t.Fatalf("%+v: the batch without the refused delivery: %v", tt.msg, err)
		}
		if n := len(got.Deliveries); n != 2 || got.Deliveries[0].Id != 1 || got.Deliveries[1].Id != 3 {
			t.Errorf("%+v: batch holds %v, want deliveries 1 and 3", tt.msg, &got)
		}
	}
	// Invalid UTF-8 written by hand, as a buggy or hostile peer would.
	wire, err := proto.MarshalOptions{}.Marshal(&pluginpb.PublishBatchEncoded{Calls: [][]byte{{0x12, 2, 0xff, 0xfe}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodePublishBatch(wire); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("DecodePublishBatch of a topic that is not UTF-8: %v", err)
	}
}

// FuzzLinkCodec checks that the hand-written decoders accept exactly what
// the generated code accepts, and read the same from it.
func FuzzLinkCodec(f *testing.F) {
	// Small seeds: the fuzzer minimizes what it finds from them.
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		b, _ := AppendPublishCall(nil, r.Uint64(), randomString(r), randomMessageUpTo(r, 16), r.Int64())
		wire, _ := proto.Marshal(&pluginpb.PublishBatchEncoded{Calls: [][]byte{b}, Cancel: []uint64{1, 300}})
		f.Add(wire)
		f.Add(AppendDeliveryBatch(nil, []Delivery{{Sub: 1, ID: 2, Msg: randomMessageUpTo(r, 16)}, {Sub: 1, ID: 3, Cancel: true}}, func(Delivery, error) {}))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var pb pluginpb.PublishBatch
		perr := proto.Unmarshal(p, &pb)
		calls, cancel, err := DecodePublishBatch(p)
		if (perr == nil) != (err == nil) {
			t.Fatalf("publish batch: generated code says %v, DecodePublishBatch says %v", perr, err)
		}
		if err == nil {
			if len(calls) != len(pb.Calls) || fmt.Sprint(cancel) != fmt.Sprint(pb.Cancel) {
				t.Fatalf("publish batch: %d calls and cancels %v, generated code %d and %v", len(calls), cancel, len(pb.Calls), pb.Cancel)
			}
			for i, c := range calls {
				w := pb.Calls[i]
				if c.ID != w.Id || c.Topic != w.Topic || c.Deadline != w.Deadline || !sameMessage(c.Msg, w.Message) {
					t.Fatalf("publish call %d: %+v, generated code %v", i, c, w)
				}
			}
		}

		var db pluginpb.DeliveryBatch
		perr = proto.Unmarshal(p, &db)
		ds, err := DecodeDeliveryBatch(p)
		if (perr == nil) != (err == nil) {
			t.Fatalf("delivery batch: generated code says %v, DecodeDeliveryBatch says %v", perr, err)
		}
		if err == nil {
			if len(ds) != len(db.Deliveries) {
				t.Fatalf("delivery batch: %d deliveries, generated code %d", len(ds), len(db.Deliveries))
			}
			for i, d := range ds {
				w := db.Deliveries[i]
				if d.Sub != w.Sub || d.ID != w.Id || d.Cancel != w.Cancel || !sameMessage(d.Msg, w.Message) {
					t.Fatalf("delivery %d: %+v, generated code %v", i, d, w)
				}
			}
		}
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
