package nats_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/registrytest"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	"github.com/seedmicro/micro/plugins/internal/settings/settingstest"
	micronats "github.com/seedmicro/micro/plugins/registry/nats"
)

func service(name, version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name, Version: version, Metadata: map[string]string{"team": "t"}}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{ID: id, Address: "127.0.0.1:" + id})
	}
	return s
}

// Two registries on one bucket are two processes: what one registers the
// other finds at once, and sees go when the first process dies.
func TestTwoProcesses(t *testing.T) {
	bucket := testBucket(t)
	cfg := micronats.Config{Connection: micronats.Connection{URL: plugintest.NATSURL()}, KV: micronats.KV{Bucket: bucket, Storage: "memory"}}
	a, b := newRegistry(t, cfg), newRegistry(t, cfg)
	ctx := t.Context()

	w := registrytest.Watch(t, ctx, b, registry.WatchService("greeter"))

	if err := a.Register(ctx, service("greeter", "1.0.0", "1"), 0); err != nil {
		t.Fatal(err)
	}
	svcs, err := b.Lookup(ctx, "greeter")
	if err != nil || len(svcs) != 1 || len(svcs[0].Nodes) != 1 {
		t.Fatalf("Lookup in the other process right after Register = %v, %v", svcs, err)
	}
	if ev := registrytest.Next(t, w); ev.Type != registry.Added {
		t.Fatalf("event = %v, want Added", ev.Type)
	}

	// A process that dies without deregistering: its node expires.
	if err := a.Register(ctx, service("greeter", "1.0.0", "2"), time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := registrytest.Next(t, w); ev.Type != registry.Updated || len(ev.Service.Nodes) != 2 {
		t.Fatalf("event = %v with %d nodes, want Updated with 2", ev.Type, len(ev.Service.Nodes))
	}
	a.Close()
	if ev := registrytest.Next(t, w); ev.Type != registry.Updated || len(ev.Service.Nodes) != 1 || ev.Service.Nodes[0].ID != "1" {
		t.Fatalf("event after expiry = %v %+v, want Updated with node 1 only", ev.Type, ev.Service.Nodes)
	}
	// The reader deleted the expired key from the bucket.
	kv, err := plugintest.NATSJetStream(t).KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := kv.Get(ctx, "greeter.1=2E0=2E0.2")
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired key still in the bucket: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Register(ctx, service("greeter", "1.0.0", "3"), 0); !errors.Is(err, micronats.ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
}

// The wire format of the README: a plain key-value client reads what the
// registry writes, and what it writes in that format is a node.
func TestWireFormat(t *testing.T) {
	bucket := testBucket(t)
	r := newRegistry(t, micronats.Config{Connection: micronats.Connection{URL: plugintest.NATSURL()}, KV: micronats.KV{Bucket: bucket, Storage: "memory"}})
	ctx := t.Context()
	if err := r.Register(ctx, service("go.greeter", "1.0.0", "n1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	kv, err := plugintest.NATSJetStream(t).KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "go=2Egreeter.1=2E0=2E0.n1")
	if err != nil {
		t.Fatalf("the README's key: %v", err)
	}
	var v struct {
		Format  int               `json:"format"`
		Service *registry.Service `json:"service"`
		Expires time.Time         `json:"expires"`
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Format != 1 || v.Service.Name != "go.greeter" || len(v.Service.Nodes) != 1 || v.Service.Nodes[0].ID != "n1" ||
		v.Expires.Before(time.Now().Add(59*time.Minute)) || !strings.Contains(string(e.Value()), `Z"`) {
		t.Errorf("value = %s", e.Value())
	}

	// A node written by a plain client.
	raw := `{"format":1,"service":{"name":"go.greeter","version":"2.0.0","nodes":[{"id":"x","address":"10.0.0.1:80"}]}}`
	if _, err := kv.Put(ctx, "go=2Egreeter.2=2E0=2E0.x", []byte(raw)); err != nil {
		t.Fatal(err)
	}
	// Keys and values of other shapes are ignored.
	kv.Put(ctx, "not-a-node", []byte("{}"))
	kv.Put(ctx, "go=2Egreeter.3.y", []byte("not json"))
	svcs, err := r.Lookup(ctx, "go.greeter")
	if err != nil || len(svcs) != 2 || svcs[1].Version != "2.0.0" || svcs[1].Nodes[0].Address != "10.0.0.1:80" {
		t.Fatalf("Lookup = %+v, %v", svcs, err)
	}
}

func TestConfigInvalid(t *testing.T) {
	settingstest.Check(t, newFn, []settingstest.Case[micronats.Config]{
		{Name: "Bucket", Config: micronats.Config{KV: micronats.KV{Bucket: "a.b"}}, Field: "Bucket"},
		{Name: "Storage", Config: micronats.Config{KV: micronats.KV{Storage: "disk"}}, Field: "Storage"},
		{Name: "Replicas", Config: micronats.Config{KV: micronats.KV{Replicas: 9}}, Field: "Replicas"},
		{Name: "WatchQueue", Config: micronats.Config{WatchQueue: -1}, Field: "WatchQueue"},
		{Name: "TLSCertFile", Config: micronats.Config{Connection: micronats.Connection{TLSKeyFile: "k"}}, Field: "TLSCertFile"},
	})
}

func TestConfigJSON(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"url":"nats://x:4222","bucket":"b","reconnect_wait":"1s","watch_queue":10}`))
	dec.DisallowUnknownFields()
	var cfg micronats.Config
	if err := dec.Decode(&cfg); err != nil || cfg.ReconnectWait != micronats.Duration(time.Second) || cfg.WatchQueue != 10 {
		t.Fatalf("Decode = %+v, %v", cfg, err)
	}
}
