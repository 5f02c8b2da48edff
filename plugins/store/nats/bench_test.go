package nats_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

// The benchmarks compare the store with nats.go's key-value API doing the
// same work on 1 KiB values: a put that waits for the server's
// acknowledgement, and a get of the latest value.
//
//	go test -run '^$' -bench . ./plugins/store/nats/

const benchValueSize = 1024

func benchStore(b *testing.B) (*micronats.Store, jetstream.KeyValue) {
	bucket := testBucket(b)
	s := newStore(b, micronats.Config{Connection: micronats.Connection{URL: plugintest.NATSURL()}, KV: micronats.KV{Bucket: bucket}})
	kv, err := plugintest.NATSJetStream(b).KeyValue(context.Background(), bucket)
	if err != nil {
		b.Fatal(err)
	}
	return s, kv
}

func BenchmarkWrite(b *testing.B) {
	value := make([]byte, benchValueSize)
	rand.Read(value)
	ctx := context.Background()
	b.Run("micro", func(b *testing.B) {
		s, _ := benchStore(b)
		b.SetBytes(benchValueSize)
		i := 0
		for b.Loop() {
			i++
			if err := s.Write(ctx, &store.Record{Key: "bench/" + strconv.Itoa(i%1000), Value: value}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		_, kv := benchStore(b)
		b.SetBytes(benchValueSize)
		i := 0
		for b.Loop() {
			i++
			if _, err := kv.Put(ctx, "bench."+strconv.Itoa(i%1000), value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	value := make([]byte, benchValueSize)
	rand.Read(value)
	ctx := context.Background()
	b.Run("micro", func(b *testing.B) {
		s, _ := benchStore(b)
		if err := s.Write(ctx, &store.Record{Key: "bench/k", Value: value}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchValueSize)
		for b.Loop() {
			if _, err := s.Read(ctx, "bench/k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		_, kv := benchStore(b)
		if _, err := kv.Put(ctx, "bench.k", value); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchValueSize)
		for b.Loop() {
			if _, err := kv.Get(ctx, "bench.k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
