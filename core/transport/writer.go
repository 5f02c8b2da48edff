package transport

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
)

// frameWriter writes frames to a connection from many goroutines. Writes are
// coalesced: a writer that sees others queued behind it leaves the flush to
// the last of them, so under load many frames share one system call while a
// lone request is flushed at once.
type frameWriter struct {
	waiting atomic.Int32
	mu      sync.Mutex
	bw      *bufio.Writer
	max     int
	err     error
}

func newFrameWriter(c net.Conn, max int) *frameWriter {
	return &frameWriter{bw: bufio.NewWriterSize(c, 32<<10), max: max}
}

// write encodes and sends f. An encoding error (frame too large) is returned
// without touching the connection; a write error is sticky.
func (w *frameWriter) write(f *Frame) error {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.waiting.Add(-1) == 0
	if w.err != nil {
		return w.err
	}
	var encErr, err error
	var b []byte
	if f.encodedSize() <= w.bw.Available() {
		b, encErr = AppendFrame(w.bw.AvailableBuffer(), f, w.max)
	} else {
		b, encErr = AppendFrame(make([]byte, 0, f.encodedSize()), f, w.max)
	}
	if encErr == nil {
		_, err = w.bw.Write(b)
	}
	// Flush even when this frame failed to encode: frames queued before it
	// by writers that left the flush to us must still go out.
	if err == nil && last {
		err = w.bw.Flush()
	}
	if err != nil {
		w.err = err
		return err
	}
	return encErr
}
