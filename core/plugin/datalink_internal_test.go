package plugin

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin/internal/wire"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

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
		{"hello", []byte{0, 0, 0, 2, wire.Hello, wire.Version}, true},
		{"no hello", nil, false},
		{"another version", []byte{0, 0, 0, 2, wire.Hello, wire.Version + 1}, false},
		{"not a hello", []byte{0, 0, 0, 2, wire.Publish, 0}, false},
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
			typ, p, err := wire.ReadFrame(r, &buf)
			if err != nil {
				return
			}
			ds, err := wire.DecodeDeliveryBatch(p)
			if typ != wire.Deliver || err != nil {
				t.Errorf("frame of type %d: %v", typ, err)
				return
			}
			for _, dl := range ds {
				if dl.Cancel { // the handler gave up waiting
					ss.answer(&pluginpb.SubscribeRequest{Id: dl.ID, Reject: true, Error: "cancelled"})
					continue
				}
				arrived <- string(dl.Msg.Body)
				ss.answer(&pluginpb.SubscribeRequest{Id: dl.ID})
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
