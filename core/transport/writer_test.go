package transport

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// gateConn is a connection whose writes wait for the test: each Write
// reports its size on entered, then waits for a token on gate.
type gateConn struct {
	net.Conn // only Write is used
	entered  chan int
	gate     chan struct{}
	mu       sync.Mutex
	got      []byte
}

func newGateConn() *gateConn {
	return &gateConn{entered: make(chan int), gate: make(chan struct{})}
}

func (c *gateConn) Write(b []byte) (int, error) {
	c.entered <- len(b)
	<-c.gate
	c.mu.Lock()
	c.got = append(c.got, b...)
	c.mu.Unlock()
	return len(b), nil
}

func (c *gateConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.got...)
}

func encoded(t *testing.T, fs ...*Frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = AppendFrame(b, f, 0); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// waitQueued waits until n bytes were appended to w's buffers.
func waitQueued(w *frameWriter, n uint64) {
	for {
		w.mu.Lock()
		q := w.queued
		w.mu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

// A write on a connection that is otherwise idle (busy false) has left
// when it returns, even when it had to wait for a batch being written.
func TestWriterIdleWriteHasLeftWhenItReturns(t *testing.T) {
	c := newGateConn()
	w := newFrameWriter(c, 0, nil)
	defer w.close()
	first := &Frame{Kind: KindResponse, ID: 1, Body: []byte("first")}
	second := &Frame{Kind: KindResponse, ID: 2, Body: []byte("second")}
	errc := make(chan error, 2)
	go func() { errc <- w.write(first, false) }()
	<-c.entered // the first write is on its way, outside the lock
	returned := make(chan struct{})
	go func() {
		errc <- w.write(second, false)
		close(returned)
	}()
	waitQueued(w, uint64(len(encoded(t, first, second))))
	c.gate <- struct{}{}
	// The second frame goes in a write of its own, by the flusher or by
	// its writer, and its writer returns after that.
	select {
	case <-returned:
		t.Fatal("the second write returned before its frame was written")
	case <-c.entered:
	}
	c.gate <- struct{}{}
	<-returned
	if got, want := c.written(), encoded(t, first, second); !bytes.Equal(got, want) {
		t.Fatalf("when the second write returned the connection had %q, want %q", got, want)
	}
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// While a batch is being written the next one fills up to writeBatch bytes
// (plus the frame that crossed it); then writers wait. A fast writer on a
// slow connection holds a bounded amount of memory.
func TestWriterBatchesAreBounded(t *testing.T) {
	c := newGateConn()
	w := newFrameWriter(c, 0, nil)
	defer w.close()
	f := &Frame{Kind: KindData, ID: 1, Body: make([]byte, 1000)}
	frameSize := len(encoded(t, f))
	const frames = 4 * writeBatch / 1000
	// The first batch, written by an idle writer, is held.
	errc := make(chan error, 2)
	go func() { errc <- w.write(f, false) }()
	first := <-c.entered
	var sent atomic.Int64
	go func() {
		for i := 0; i < frames; i++ {
			if err := w.write(f, true); err != nil {
				errc <- err
				return
			}
			sent.Add(1)
		}
		errc <- nil
	}()
	// Meanwhile the busy writer fills the next batch, then waits.
	for sent.Load() < writeBatch/int64(frameSize) {
		runtime.Gosched()
	}
	for i := 0; i < 100; i++ {
		runtime.Gosched()
	}
	w.mu.Lock()
	pending := len(w.buf)
	w.mu.Unlock()
	if pending > writeBatch+frameSize {
		t.Fatalf("%d bytes pending while a batch is being written, want at most %d", pending, writeBatch+frameSize)
	}
	c.gate <- struct{}{}
	total := first
	for total < (frames+1)*frameSize {
		n := <-c.entered
		if n > writeBatch+frameSize {
			t.Fatalf("a batch of %d bytes, want at most %d", n, writeBatch+frameSize)
		}
		total += n
		c.gate <- struct{}{}
	}
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	w.close() // the last Write is over
	if got := len(c.written()); got != (frames+1)*frameSize {
		t.Fatalf("%d bytes written, want %d", got, (frames+1)*frameSize)
	}
}

// A frame over the limit is refused before anything is written, and the
// buffer grown to encode it is not kept by an idle writer.
func TestWriterDropsTheBufferOfARefusedFrame(t *testing.T) {
	c := newGateConn()
	w := newFrameWriter(c, 1<<10, nil)
	defer w.close()
	err := w.write(&Frame{Kind: KindResponse, ID: 1, Body: make([]byte, 4*keepBuffer)}, false)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("write of an oversized frame: %v, want ErrFrameTooLarge", err)
	}
	w.mu.Lock()
	n, capacity := len(w.buf), cap(w.buf)
	w.mu.Unlock()
	if n != 0 || capacity > keepBuffer {
		t.Fatalf("after the refused frame the writer holds %d bytes in a buffer of %d, want none kept over %d", n, capacity, keepBuffer)
	}
	if got := c.written(); len(got) != 0 {
		t.Fatalf("the connection got %d bytes of a refused frame", len(got))
	}
}
