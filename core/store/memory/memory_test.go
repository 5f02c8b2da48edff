package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/core/store/memory"
	"github.com/seedmicro/micro/core/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newStore(t *testing.T, opts ...memory.Option) *memory.Store {
	s := memory.New(opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts []memory.Option
	}{
		{"default", nil},
		{"fast sweep", []memory.Option{memory.WithSweepInterval(10 * time.Millisecond)}},
		{"no sweep", []memory.Option{memory.WithSweepInterval(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, tt.opts...) })
		})
	}
}

func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, memory.WithSweepInterval(0))
		ctx := t.Context()
		if err := s.Write(ctx, &store.Record{Key: "k", Value: []byte("v"), TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(999 * time.Millisecond)
		rec, err := s.Read(ctx, "k")
		if err != nil || rec.TTL != time.Millisecond {
			t.Fatalf("Read 1ms before expiry = %+v, %v; want TTL 1ms", rec, err)
		}
		time.Sleep(time.Millisecond)
		if _, err := s.Read(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Read at expiry: %v, want store.ErrNotFound", err)
		}
		if n := memory.RecordCount(s); n != 0 {
			t.Errorf("Read left %d expired records in the store, want 0", n)
		}
	})
}

func TestListRemovesExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t, memory.WithSweepInterval(0))
		ctx := t.Context()
		for _, k := range []string{"a", "b"} {
			if err := s.Write(ctx, &store.Record{Key: k, TTL: time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Write(ctx, &store.Record{Key: "c"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		keys, err := s.List(ctx, "")
		if err != nil || fmt.Sprint(keys) != "[c]" {
			t.Errorf("List = %q, %v; want [c]", keys, err)
		}
		if n := memory.RecordCount(s); n != 1 {
			t.Errorf("List left %d records in the store, want 1", n)
		}
	})
}

func TestSweep(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		want     int // records left after a minute
	}{
		{"every second", time.Second, 1},
		{"off", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newStore(t, memory.WithSweepInterval(tt.interval))
				ctx := t.Context()
				for i, ttl := range []time.Duration{time.Second, 30 * time.Second, 0} {
					if err := s.Write(ctx, &store.Record{Key: fmt.Sprint(i), TTL: ttl}); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if n := memory.RecordCount(s); n != tt.want {
					t.Errorf("%d records left, want %d", n, tt.want)
				}
			})
		})
	}
}

func TestWriteInvalid(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		name string
		rec  *store.Record
		want string // in the error
	}{
		{"nil record", nil, "nil record"},
		{"empty key", &store.Record{Value: []byte("v")}, "empty key"},
		{"negative TTL", &store.Record{Key: "k", TTL: -time.Second}, "negative TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Write(t.Context(), tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if keys, _ := s.List(t.Context(), ""); len(keys) != 0 {
		t.Errorf("invalid writes stored %q", keys)
	}
}

func TestCanceledContext(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"Read", func() error { _, err := s.Read(ctx, "k"); return err }},
		{"Write", func() error { return s.Write(ctx, &store.Record{Key: "k"}) }},
		{"Delete", func() error { return s.Delete(ctx, "k") }},
		{"List", func() error { _, err := s.List(ctx, ""); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled ctx = %v, want context.Canceled", tt.name, err)
			}
		})
	}
}

func TestClose(t *testing.T) {
	s := memory.New()
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	// The store stays usable.
	ctx := t.Context()
	if err := s.Write(ctx, &store.Record{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Write after Close: %v", err)
	}
	if rec, err := s.Read(ctx, "k"); err != nil || string(rec.Value) != "v" {
		t.Errorf("Read after Close = %+v, %v", rec, err)
	}
}

func BenchmarkStoreWrite(b *testing.B) {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()
	keys := benchKeys(1024)
	value := make([]byte, 128)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Write(ctx, &store.Record{Key: keys[i%len(keys)], Value: value}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkStoreRead(b *testing.B) {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()
	keys := benchKeys(1024)
	value := make([]byte, 128)
	for _, k := range keys {
		if err := s.Write(ctx, &store.Record{Key: k, Value: value, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Read(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Read(ctx, keys[i%len(keys)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench/key/%d", i)
	}
	return keys
}
