package nats_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

func testStores(t *testing.T, n int, mod func(*micronats.Config)) (string, []*micronats.Store) {
	bucket := testBucket(t)
	cfg := micronats.Config{Connection: micronats.Connection{URL: plugintest.NATSURL()}, KV: micronats.KV{Bucket: bucket, Storage: "memory"}}
	if mod != nil {
		mod(&cfg)
	}
	var out []*micronats.Store
	for range n {
		out = append(out, newStore(t, cfg))
	}
	return bucket, out
}

// waitGone waits until the bucket no longer holds kvKey.
func waitGone(t *testing.T, kv jetstream.KeyValue, kvKey string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := kv.Get(t.Context(), kvKey)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s still in the bucket: %v", kvKey, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two stores on one bucket are two processes: each sees what the other
// wrote as soon as the write returned.
func TestTwoProcesses(t *testing.T) {
	bucket, s := testStores(t, 2, nil)
	a, b := s[0], s[1]
	ctx := t.Context()
	for i := range 20 {
		key := "k/" + strings.Repeat("x", i)
		if err := a.Write(ctx, &store.Record{Key: key, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		keys, err := b.List(ctx, "k/")
		if err != nil || len(keys) != i+1 {
			t.Fatalf("List in the other process right after Write %d = %d keys, %v", i, len(keys), err)
		}
		if err := a.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if keys, _ := b.List(ctx, key); len(keys) != 0 {
			t.Fatalf("List in the other process right after Delete = %q", keys)
		}
		if err := a.Write(ctx, &store.Record{Key: key, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}

	// A record that expires unread in one process is deleted by the other.
	if err := a.Write(ctx, &store.Record{Key: "session", Value: []byte("s"), TTL: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	time.Sleep(400 * time.Millisecond)
	if _, err := b.Read(ctx, "session"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Read of an expired record = %v, want ErrNotFound", err)
	}
	kv, err := plugintest.NATSJetStream(t).KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, kv, "session")

	if err := a.Write(ctx, &store.Record{Key: "x", Value: nil}); !errors.Is(err, micronats.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := a.Read(ctx, "x"); !errors.Is(err, micronats.ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	if _, err := a.List(ctx, ""); !errors.Is(err, micronats.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
}

// The sweep deletes expired records nobody reads.
func TestSweep(t *testing.T) {
	bucket, s := testStores(t, 1, func(c *micronats.Config) { c.SweepInterval = micronats.Duration(100 * time.Millisecond) })
	ctx := t.Context()
	if err := s[0].Write(ctx, &store.Record{Key: "a/b", Value: []byte("v"), TTL: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	kv, err := plugintest.NATSJetStream(t).KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, kv, "a.b")
}

// The wire format of the README, read and written by a plain client.
func TestWireFormat(t *testing.T) {
	bucket, s := testStores(t, 1, nil)
	st := s[0]
	ctx := t.Context()
	js := plugintest.NATSJetStream(t)
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}

	if err := st.Write(ctx, &store.Record{Key: "users/42/name", Value: []byte("Ada"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "users.42.name")
	if err != nil || string(e.Value()) != "Ada" {
		t.Fatalf("kv.Get of the README's key = %v, %v", e, err)
	}
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, "$KV."+bucket+".users.42.name")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339Nano, m.Header.Get(micronats.ExpiresHeader))
	if err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > time.Hour {
		t.Errorf("%s = %q, %v", micronats.ExpiresHeader, m.Header.Get(micronats.ExpiresHeader), err)
	}

	// Written by a plain client: no header, so it never expires.
	if _, err := kv.Put(ctx, "app.feature-flags", []byte(`{"dark":true}`)); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Read(ctx, "app/feature-flags")
	if err != nil || string(rec.Value) != `{"dark":true}` || rec.TTL != 0 {
		t.Fatalf("Read of a plain put = %+v, %v", rec, err)
	}
	// Deleted by a plain client.
	if err := kv.Delete(ctx, "users.42.name"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(ctx, "users/42/name"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read after a plain delete = %v", err)
	}
	// Expired, by a plain client's header.
	past := &natsgo.Msg{Subject: "$KV." + bucket + ".old", Data: []byte("x"),
		Header: natsgo.Header{micronats.ExpiresHeader: {time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)}}}
	if _, err := js.PublishMsg(ctx, past); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read of an expired plain put = %v", err)
	}
	// Keys of other shapes are not listed.
	kv.Put(ctx, "not=valid=", []byte("x"))
	keys, err := st.List(ctx, "")
	if err != nil || strings.Join(keys, ",") != "app/feature-flags" {
		t.Errorf("List = %q, %v; want [app/feature-flags]", keys, err)
	}
}

func TestInvalidKeys(t *testing.T) {
	_, s := testStores(t, 1, nil)
	ctx := t.Context()
	for _, key := range []string{"", strings.Repeat("é", 600)} {
		if err := s[0].Write(ctx, &store.Record{Key: key}); !errors.Is(err, micronats.ErrInvalidKey) {
			t.Errorf("Write(%d-byte key) = %v, want ErrInvalidKey", len(key), err)
		}
		if _, err := s[0].Read(ctx, key); !errors.Is(err, micronats.ErrInvalidKey) {
			t.Errorf("Read(%d-byte key) = %v, want ErrInvalidKey", len(key), err)
		}
	}
	long := strings.Repeat("k", 2000)
	if err := s[0].Write(ctx, &store.Record{Key: long, Value: []byte("v")}); err != nil {
		t.Errorf("Write of a 2000-byte key: %v", err)
	}
	if err := s[0].Write(ctx, &store.Record{Key: "k", TTL: -1}); err == nil {
		t.Error("Write with a negative TTL accepted")
	}
}

func TestConfigInvalid(t *testing.T) {
	settingstest.Check(t, newFn, []settingstest.Case[micronats.Config]{
		{Name: "Bucket", Config: micronats.Config{KV: micronats.KV{Bucket: "a b"}}, Field: "Bucket"},
		{Name: "Storage", Config: micronats.Config{KV: micronats.KV{Storage: "disk"}}, Field: "Storage"},
		{Name: "Replicas", Config: micronats.Config{KV: micronats.KV{Replicas: -1}}, Field: "Replicas"},
		{Name: "ReconnectWait", Config: micronats.Config{Connection: micronats.Connection{ReconnectWait: -1}}, Field: "ReconnectWait"},
	})
	dec := json.NewDecoder(strings.NewReader(`{"bucket":"b","sweep_interval":"-1s"}`))
	dec.DisallowUnknownFields()
	var cfg micronats.Config
	if err := dec.Decode(&cfg); err != nil || cfg.SweepInterval != micronats.Duration(-time.Second) {
		t.Fatalf("Decode = %+v, %v", cfg, err)
	}
}
