package redis

import (
	"maps"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
)

// FuzzEntry feeds the entry decoder field maps as another program could
// write them with XADD, and checks that what micro encodes decodes back to
// the same message.
func FuzzEntry(f *testing.F) {
	f.Add("id-1", "Content-Type", "application/json", []byte(`{"a":1}`), "1-0")
	f.Add("", "", "", []byte{}, "0-1")
	f.Fuzz(func(t *testing.T, id, hk, hv string, body []byte, entryID string) {
		// Arbitrary fields, as a foreign producer could write them.
		raw := goredis.XMessage{ID: entryID, Values: map[string]any{
			id: hk, hk: hv, FieldBody: string(body), HeaderFieldPrefix + hv: 7,
		}}
		if m := decode(raw, 2); m.Header[broker.DeliveryHeader] != "2" {
			t.Fatalf("delivery count header %q", m.Header[broker.DeliveryHeader])
		}

		// micro's own encoding round-trips.
		msg := &broker.Message{ID: id, Body: body}
		if hk != "" && hk != broker.DeliveryHeader {
			msg.Header = map[string]string{hk: hv}
		}
		values := encode(msg, nil)
		fields := map[string]any{}
		for i := 0; i+1 < len(values); i += 2 {
			switch v := values[i+1].(type) {
			case []byte:
				fields[values[i].(string)] = string(v)
			default:
				fields[values[i].(string)] = v
			}
		}
		got := decode(goredis.XMessage{ID: entryID, Values: fields}, 1)
		wantID := id
		if wantID == "" {
			wantID = entryID
		}
		if got.ID != wantID || string(got.Body) != string(body) {
			t.Fatalf("round trip: got id %q body %q, want %q %q", got.ID, got.Body, wantID, body)
		}
		want := maps.Clone(msg.Header)
		if want == nil {
			want = map[string]string{}
		}
		want[broker.DeliveryHeader] = strconv.Itoa(1)
		if !maps.Equal(got.Header, want) {
			t.Fatalf("headers %v, want %v", got.Header, want)
		}
	})
}
