package nats_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	micronats "github.com/seedmicro/micro/plugins/broker/nats"
)

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name  string
		cfg   micronats.Config
		field string
	}{
		{"mode", micronats.Config{Mode: "fast"}, "Mode"},
		{"prefix wildcard", micronats.Config{SubjectPrefix: "micro.*"}, "SubjectPrefix"},
		{"prefix empty token", micronats.Config{SubjectPrefix: "micro..x"}, "SubjectPrefix"},
		{"stream dot", micronats.Config{Stream: "a.b"}, "Stream"},
		{"storage", micronats.Config{StreamStorage: "disk"}, "StreamStorage"},
		{"replicas", micronats.Config{StreamReplicas: 7}, "StreamReplicas"},
		{"ack wait", micronats.Config{AckWait: -1}, "AckWait"},
		{"max deliver", micronats.Config{MaxDeliver: -2}, "MaxDeliver"},
		{"prefetch", micronats.Config{Prefetch: -1}, "Prefetch"},
		{"dead letter topic", micronats.Config{DeadLetterTopic: "a b"}, "DeadLetterTopic"},
		{"tls key", micronats.Config{Connection: micronats.Connection{TLSCertFile: "c.pem"}}, "TLSCertFile"},
		{"window", micronats.Config{StreamMaxAge: micronats.Duration(time.Minute), DuplicateWindow: micronats.Duration(time.Hour)}, "DuplicateWindow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := micronats.New(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Fatalf("New = %v, want an error naming Config.%s", err, tt.field)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	in := `{"url":"nats://a:4222","mode":"core","ack_wait":"1m30s","nak_delay":250000000,"max_deliver":-1}`
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	var cfg micronats.Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.AckWait != micronats.Duration(90*time.Second) || cfg.NakDelay != micronats.Duration(250*time.Millisecond) || cfg.MaxDeliver != -1 {
		t.Errorf("decoded %+v", cfg)
	}
	out, err := json.Marshal(cfg)
	if err != nil || !bytes.Contains(out, []byte(`"ack_wait":"1m30s"`)) {
		t.Errorf("Marshal = %s, %v", out, err)
	}
	for _, bad := range []string{`{"ack_wait":"soon"}`, `{"ack_wait":true}`} {
		if err := json.Unmarshal([]byte(bad), &cfg); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}

func TestInvalidTopicsAndHeaders(t *testing.T) {
	b := coreBroker(t)
	for _, topic := range []string{"", "a b", "a.*", "a.>", ".a", "a.", "a..b", "tab\tx"} {
		err := b.Publish(t.Context(), topic, &broker.Message{})
		if !errors.Is(err, micronats.ErrInvalidTopic) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidTopic", topic, err)
		}
		_, err = b.Subscribe(t.Context(), topic, func(context.Context, *broker.Message) error { return nil })
		if !errors.Is(err, micronats.ErrInvalidTopic) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalidTopic", topic, err)
		}
	}
	for _, h := range []map[string]string{
		{"": "v"}, {"a b": "v"}, {"a:b": "v"}, {"Nats-Msg-Id": "x"}, {"nats-expected-stream": "x"},
		{"K": "line\nbreak"}, {"K": " padded"}, {"K": "padded "}, {"Ключ": "v"},
	} {
		err := b.Publish(t.Context(), "ok", &broker.Message{Header: h})
		if !errors.Is(err, micronats.ErrInvalidHeader) {
			t.Errorf("Publish with header %q = %v, want ErrInvalidHeader", h, err)
		}
	}
}

func TestDurableName(t *testing.T) {
	tests := []struct{ topic, group, prefix string }{
		{"orders.created", "billing", "orders_created__billing_"},
		{"orders_created", "billing", "orders_created__billing_"},
		{"a", "with space/and*stuff", "a__with_space_and_stuff_"},
		{strings.Repeat("x", 300), "g", strings.Repeat("x", 64) + "__g_"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := micronats.DurableName(tt.topic, tt.group)
		if !strings.HasPrefix(got, tt.prefix) || len(got) != len(tt.prefix)+16 {
			t.Errorf("DurableName(%q, %q) = %q, want %s<16 hex digits>", tt.topic, tt.group, got, tt.prefix)
		}
		if strings.ContainsAny(got, ".*> /\\") {
			t.Errorf("DurableName(%q, %q) = %q holds a character a consumer name cannot", tt.topic, tt.group, got)
		}
		if seen[got] {
			t.Errorf("DurableName(%q, %q) = %q, given to another pair too", tt.topic, tt.group, got)
		}
		seen[got] = true
	}
}

func TestServerDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := micronats.New(ctx, micronats.Config{Connection: micronats.Connection{URL: "nats://127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("New with no server = %v, want an error naming the address", err)
	}
}

func FuzzDurationJSON(f *testing.F) {
	for _, s := range []string{`"1s"`, `"1m30s"`, `12`, `-5`, `"x"`, `null`, `"9999999999h"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d micronats.Duration
		if err := json.Unmarshal(b, &d); err != nil {
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back micronats.Duration
		if err := json.Unmarshal(out, &back); err != nil || back != d {
			t.Fatalf("%s → %v → %s → %v, %v", b, d, out, back, err)
		}
	})
}
