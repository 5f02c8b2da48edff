// Package storetest is the conformance suite for store.Store
// implementations. An implementation's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s := mystore.New(...)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite is written for remote and shared stores as well as in-process
// ones:
//
//   - Run calls newStore once per subtest. newStore registers, with
//     t.Cleanup, whatever has to be released; the suite does not close
//     stores (store.Store has no Close).
//   - Every subtest writes only keys under a prefix of its own, made unique
//     with a random suffix ("storetest/<subtest>/<hex>/"), and deletes them
//     when it ends, so a store that holds other keys, or that several runs
//     share, is fine. The empty-prefix List is checked to include this
//     subtest's keys, not to equal them.
//   - Expiry is awaited by polling with a deadline of ExpiryTimeout, never
//     by sleeping for a fixed time; records are written with a TTL of one
//     second, so a store's TTL resolution must be one second or finer.
//   - Keys contain spaces, slashes, unicode and characters that are special
//     in glob and SQL LIKE patterns (* ? [ ] % _ \); a store must treat a
//     List prefix literally.
//   - Subtests run one after another, not in parallel.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/store"
)

const (
	// ExpiryTimeout bounds the wait for a record written with a TTL of one
	// second to expire.
	ExpiryTimeout = 5 * time.Second
	// OpTimeout bounds every single store operation of the suite.
	OpTimeout = 10 * time.Second

	shortTTL = time.Second
	longTTL  = time.Hour
	poll     = 20 * time.Millisecond
)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"WriteRead", testWriteRead},
		{"Overwrite", testOverwrite},
		{"ReadMissing", testReadMissing},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"TTLExpiry", testTTLExpiry},
		{"TTLReported", testTTLReported},
		{"List", testList},
		{"ListAll", testListAll},
		{"UnusualKeys", testUnusualKeys},
		{"ListPrefixIsLiteral", testListPrefixIsLiteral},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ValuesAreCopies", testValuesAreCopies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned nil")
			}
			tt.fn(t, newFixture(t, s))
		})
	}
}

// fixture is a store under test and the key prefix of one subtest.
type fixture struct {
	t      *testing.T
	s      store.Store
	prefix string
}

func newFixture(t *testing.T, s store.Store) *fixture {
	var r [8]byte
	rand.Read(r[:])
	name := strings.ReplaceAll(t.Name(), "/", "-")
	f := &fixture{t: t, s: s, prefix: "storetest/" + name + "/" + hex.EncodeToString(r[:]) + "/"}
	t.Cleanup(f.cleanup)
	return f
}

// cleanup deletes what the subtest left under its prefix.
func (f *fixture) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), OpTimeout)
	defer cancel()
	keys, err := f.s.List(ctx, f.prefix)
	if err != nil {
		f.t.Errorf("cleanup: List(%q): %v", f.prefix, err)
		return
	}
	for _, k := range keys {
		if err := f.s.Delete(ctx, k); err != nil {
			f.t.Errorf("cleanup: Delete(%q): %v", k, err)
		}
	}
}

// key returns name under the subtest's prefix.
func (f *fixture) key(name string) string { return f.prefix + name }

func (f *fixture) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.t.Context(), OpTimeout)
}

// op runs one store operation under its own OpTimeout.
func (f *fixture) op(fn func(ctx context.Context) error) error {
	ctx, cancel := f.ctx()
	defer cancel()
	return fn(ctx)
}

func (f *fixture) write(key string, value []byte, ttl time.Duration) {
	f.t.Helper()
	ctx, cancel := f.ctx()
	defer cancel()
	if err := f.s.Write(ctx, &store.Record{Key: key, Value: value, TTL: ttl}); err != nil {
		f.t.Fatalf("Write(%q): %v", key, err)
	}
}

func (f *fixture) tryRead(key string) (*store.Record, error) {
	ctx, cancel := f.ctx()
	defer cancel()
	return f.s.Read(ctx, key)
}

// read reads key, which must exist, and checks the record's key.
func (f *fixture) read(key string) *store.Record {
	f.t.Helper()
	rec, err := f.tryRead(key)
	if err != nil {
		f.t.Fatalf("Read(%q): %v", key, err)
	}
	if rec == nil {
		f.t.Fatalf("Read(%q) returned a nil record and no error", key)
	}
	if rec.Key != key {
		f.t.Errorf("Read(%q) returned a record with key %q", key, rec.Key)
	}
	return rec
}

// readMissing checks that key does not exist.
func (f *fixture) readMissing(key string) {
	f.t.Helper()
	rec, err := f.tryRead(key)
	if !errors.Is(err, store.ErrNotFound) {
		f.t.Fatalf("Read(%q) = %+v, %v; want store.ErrNotFound", key, rec, err)
	}
}

func (f *fixture) delete(key string) {
	f.t.Helper()
	ctx, cancel := f.ctx()
	defer cancel()
	if err := f.s.Delete(ctx, key); err != nil {
		f.t.Fatalf("Delete(%q): %v", key, err)
	}
}

func (f *fixture) list(prefix string) []string {
	f.t.Helper()
	ctx, cancel := f.ctx()
	defer cancel()
	keys, err := f.s.List(ctx, prefix)
	if err != nil {
		f.t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

// checkList checks that List(prefix) returns exactly want, in order.
func (f *fixture) checkList(prefix string, want ...string) {
	f.t.Helper()
	if got := f.list(prefix); !slices.Equal(got, want) {
		f.t.Errorf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func testWriteRead(t *testing.T, f *fixture) {
	large := make([]byte, 256<<10)
	rand.Read(large)
	tests := []struct {
		name  string
		value []byte
	}{
		{"text", []byte("hello, world")},
		{"binary", []byte{0, 1, 2, 0, 0xff, 0xfe, '\n', 0}},
		{"zero bytes", make([]byte, 16)},
		{"empty", []byte{}},
		{"nil", nil},
		{"large", large},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, f.s)
			key := f.key("k")
			f.write(key, tt.value, 0)
			rec := f.read(key)
			if !bytes.Equal(rec.Value, tt.value) {
				t.Errorf("Read value = %s, want %s", abbrev(rec.Value), abbrev(tt.value))
			}
			if rec.TTL != 0 {
				t.Errorf("Read TTL = %v, want 0 for a record written without TTL", rec.TTL)
			}
		})
	}
}

// abbrev formats a value for an error message.
func abbrev(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%q... (%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func testOverwrite(t *testing.T, f *fixture) {
	t.Run("value", func(t *testing.T) {
		f := newFixture(t, f.s)
		key := f.key("k")
		f.write(key, []byte("first, and longer"), 0)
		f.write(key, []byte("second"), 0)
		if got := f.read(key).Value; string(got) != "second" {
			t.Errorf("Read after overwrite = %q, want %q", got, "second")
		}
		f.checkList(f.prefix, key)
	})
	t.Run("removes TTL", func(t *testing.T) {
		f := newFixture(t, f.s)
		key := f.key("k")
		f.write(key, []byte("expiring"), longTTL)
		f.write(key, []byte("forever"), 0)
		if rec := f.read(key); rec.TTL != 0 || string(rec.Value) != "forever" {
			t.Errorf("Read after overwrite without TTL = %q, TTL %v; want %q, TTL 0", rec.Value, rec.TTL, "forever")
		}
	})
	t.Run("sets TTL", func(t *testing.T) {
		f := newFixture(t, f.s)
		key := f.key("k")
		f.write(key, []byte("forever"), 0)
		f.write(key, []byte("expiring"), longTTL)
		if rec := f.read(key); rec.TTL <= 0 || rec.TTL > longTTL {
			t.Errorf("Read after overwrite with TTL %v reports TTL %v", longTTL, rec.TTL)
		}
	})
}

func testReadMissing(t *testing.T, f *fixture) {
	f.readMissing(f.key("never-written"))
}

func testDelete(t *testing.T, f *fixture) {
	gone, kept := f.key("gone"), f.key("kept")
	f.write(gone, []byte("v"), 0)
	f.write(kept, []byte("v"), 0)
	f.delete(gone)
	f.readMissing(gone)
	f.read(kept)
	f.checkList(f.prefix, kept)
}

func testDeleteMissing(t *testing.T, f *fixture) {
	f.delete(f.key("never-written"))
	// And a key deleted twice.
	key := f.key("k")
	f.write(key, []byte("v"), 0)
	f.delete(key)
	f.delete(key)
}

func testTTLExpiry(t *testing.T, f *fixture) {
	// unread expires no later than expiring, and is never read, so that List
	// has to leave it out on its own.
	unread, expiring, kept := f.key("unread"), f.key("expiring"), f.key("kept")
	f.write(kept, []byte("v"), 0)
	f.write(unread, []byte("v"), shortTTL)
	f.write(expiring, []byte("v"), shortTTL)
	f.read(expiring)

	deadline := time.Now().Add(ExpiryTimeout)
	for {
		_, err := f.tryRead(expiring)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("Read(%q): %v", expiring, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("record written with TTL %v still readable after %v", shortTTL, ExpiryTimeout)
		}
		time.Sleep(poll)
	}
	f.checkList(f.prefix, kept)
	if rec := f.read(kept); rec.TTL != 0 {
		t.Errorf("record without TTL reports TTL %v, want 0", rec.TTL)
	}
}

func testTTLReported(t *testing.T, f *fixture) {
	tests := []struct {
		name string
		ttl  time.Duration
	}{
		{"none", 0},
		{"one minute", time.Minute},
		{"one hour", longTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, f.s)
			key := f.key("k")
			f.write(key, []byte("v"), tt.ttl)
			got := f.read(key).TTL
			switch {
			case tt.ttl == 0 && got != 0:
				t.Errorf("Read TTL = %v, want 0 for a record without TTL", got)
			case tt.ttl > 0 && (got <= 0 || got > tt.ttl):
				t.Errorf("Read TTL = %v, want more than 0 and at most %v", got, tt.ttl)
			}
		})
	}
}

func testList(t *testing.T, f *fixture) {
	// Written out of order; List sorts.
	for _, k := range []string{"c", "b/d", "a", "b/c", "bb"} {
		f.write(f.key(k), []byte(k), 0)
	}
	// A sibling prefix that shares the subtest prefix minus its last byte.
	other := strings.TrimSuffix(f.prefix, "/") + "-other/a"
	f.write(other, []byte("v"), 0)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), OpTimeout)
		defer cancel()
		f.s.Delete(ctx, other)
	})

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "b/c", "b/d", "bb", "c"}},
		{"b", []string{"b/c", "b/d", "bb"}},
		{"b/", []string{"b/c", "b/d"}},
		{"b/c", []string{"b/c"}},
		{"a", []string{"a"}},
		{"d", nil},
		{"a/", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
			want := make([]string, len(tt.want))
			for i, k := range tt.want {
				want[i] = f.key(k)
			}
			f.checkList(f.key(tt.prefix), want...)
		})
	}
}

func testListAll(t *testing.T, f *fixture) {
	var want []string
	for _, k := range []string{"z", "a", "m/n"} {
		want = append(want, f.key(k))
		f.write(f.key(k), []byte("v"), 0)
	}
	got := f.list("")
	if !slices.IsSorted(got) {
		t.Errorf("List(\"\") is not sorted")
	}
	for _, k := range want {
		if _, ok := slices.BinarySearch(got, k); !ok {
			t.Errorf("List(\"\") lacks %q", k)
		}
	}
}

// unusualKeys are key suffixes that a store must keep as they are.
var unusualKeys = []string{
	"with space",
	"  leading and trailing  ",
	"a/b/c",
	"//double//slash//",
	"ünïcødé/键/🔑",
	"star*",
	"question?",
	"[bracket]",
	"{brace}",
	"percent%",
	"under_score",
	`back\slash`,
	"colon:semi;comma,dot.",
	"quote'double\"",
	"plus+equals=amp&hash#",
	"dash-tilde~caret^dollar$",
}

func testUnusualKeys(t *testing.T, f *fixture) {
	var all []string
	for _, suffix := range unusualKeys {
		key := f.key(suffix)
		all = append(all, key)
		t.Run(fmt.Sprintf("%q", suffix), func(t *testing.T) {
			value := []byte("value of " + suffix)
			f.write(key, value, 0)
			if got := f.read(key).Value; !bytes.Equal(got, value) {
				t.Errorf("Read(%q) = %q, want %q", key, got, value)
			}
			if got := f.list(key); !slices.Contains(got, key) {
				t.Errorf("List(%q) = %q, lacks the key itself", key, got)
			}
		})
	}
	slices.Sort(all)
	f.checkList(f.prefix, all...)
	for _, key := range all {
		f.delete(key)
		f.readMissing(key)
	}
}

func testListPrefixIsLiteral(t *testing.T, f *fixture) {
	// Each pattern character next to a key it would match as a pattern.
	pairs := []struct{ literal, decoy string }{
		{"x*1", "xa1"},
		{"x?1", "xb1"},
		{"x[c]1", "xc1"},
		{"x%1", "xd1"},
		{"x_1", "xe1"},
		{`x\1`, "x1"},
		{"x.1", "xf1"},
	}
	for _, p := range pairs {
		f.write(f.key(p.literal), []byte("v"), 0)
		f.write(f.key(p.decoy), []byte("v"), 0)
	}
	for _, p := range pairs {
		t.Run(fmt.Sprintf("%q", p.literal), func(t *testing.T) {
			prefix := strings.TrimSuffix(p.literal, "1")
			f.checkList(f.key(prefix), f.key(p.literal))
		})
	}
}

func testConcurrentWriters(t *testing.T, f *fixture) {
	const writers, each = 8, 50
	shared := f.key("shared")
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range writers {
		// OpTimeout bounds each operation, not a goroutine's 100 of them.
		wg.Go(func() {
			for i := range each {
				key := f.key(fmt.Sprintf("w%d/%d", w, i))
				value := fmt.Appendf(nil, "w%d-%d", w, i)
				if err := f.op(func(ctx context.Context) error { return f.s.Write(ctx, &store.Record{Key: key, Value: value}) }); err != nil {
					errs <- fmt.Errorf("Write(%q): %w", key, err)
					return
				}
				if err := f.op(func(ctx context.Context) error { return f.s.Write(ctx, &store.Record{Key: shared, Value: value}) }); err != nil {
					errs <- fmt.Errorf("Write(%q): %w", shared, err)
					return
				}
			}
		})
		// A reader alongside each writer.
		wg.Go(func() {
			for range each {
				if err := f.op(func(ctx context.Context) error { _, err := f.s.Read(ctx, shared); return err }); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs <- fmt.Errorf("Read(%q): %w", shared, err)
					return
				}
				if err := f.op(func(ctx context.Context) error { _, err := f.s.List(ctx, f.prefix); return err }); err != nil {
					errs <- fmt.Errorf("List(%q): %w", f.prefix, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for w := range writers {
		for i := range each {
			key := f.key(fmt.Sprintf("w%d/%d", w, i))
			if got, want := string(f.read(key).Value), fmt.Sprintf("w%d-%d", w, i); got != want {
				t.Fatalf("Read(%q) = %q, want %q", key, got, want)
			}
		}
	}
	got := string(f.read(shared).Value)
	if !strings.HasSuffix(got, fmt.Sprintf("-%d", each-1)) {
		t.Errorf("Read(%q) = %q, want the last value of one of the writers", shared, got)
	}
	if n := len(f.list(f.prefix)); n != writers*each+1 {
		t.Errorf("List returns %d keys, want %d", n, writers*each+1)
	}
}

func testValuesAreCopies(t *testing.T, f *fixture) {
	key := f.key("k")
	value := []byte("original")
	f.write(key, value, 0)
	copy(value, "CHANGED!") // the caller reuses its buffer after Write

	first := f.read(key)
	if string(first.Value) != "original" {
		t.Fatalf("Read after the caller changed the written slice = %q, want %q", first.Value, "original")
	}
	copy(first.Value, "CHANGED!") // the caller changes what Read returned
	if got := f.read(key).Value; string(got) != "original" {
		t.Errorf("Read after the caller changed a read value = %q, want %q", got, "original")
	}
}
