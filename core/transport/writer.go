package transport

import (
	"bufio"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// frameWriter writes frames to a connection from many goroutines.
//
// A frame written while the connection is otherwise idle is flushed at once,
// so a lone request pays no extra latency. Under load, frames are appended
// to the buffer and a flusher goroutine sends whatever has accumulated in
// one system call: many frames share a write instead of each paying for its
// own.
type frameWriter struct {
	waiting atomic.Int32
	mu      sync.Mutex
	c       net.Conn
	bw      *bufio.Writer // allocated by the first write: idle connections hold no buffer
	max     int
	err     error
	onErr   func(error)

	kicked   bool // a flush is scheduled; guarded by mu
	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newFrameWriter(c net.Conn, max int, onErr func(error)) *frameWriter {
	w := &frameWriter{
		c:     c,
		max:   max,
		onErr: onErr,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.flusher()
	return w
}

// signalStop tells the flusher to stop without waiting for it, so that it
// may be called from the flusher itself.
func (w *frameWriter) signalStop() { w.stopOnce.Do(func() { close(w.stop) }) }

// close stops the flusher and waits for it. The connection itself is
// closed by the owner.
func (w *frameWriter) close() {
	w.signalStop()
	<-w.done
}

func (w *frameWriter) flusher() {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
		case <-w.stop:
			return
		}
		// Let writers that are about to append join this batch.
		runtime.Gosched()
		w.mu.Lock()
		w.kicked = false
		var err error
		if w.err == nil && w.bw != nil && w.bw.Buffered() > 0 {
			if err = w.bw.Flush(); err != nil {
				w.err = err
			}
		}
		w.mu.Unlock()
		if err != nil && w.onErr != nil {
			w.onErr(err)
		}
	}
}

// write encodes and sends f. busy says that other requests are in progress
// on the connection, so more frames are likely to follow soon and the flush
// may be batched. An encoding error (frame too large) is returned without
// touching the connection; a write error is sticky.
func (w *frameWriter) write(f *Frame, busy bool) error {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	alone := w.waiting.Add(-1) == 0
	if w.err != nil {
		return w.err
	}
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(w.c, 64<<10)
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
	switch {
	case err != nil:
	case !alone:
		// A writer queued behind us flushes or schedules the flush.
	case !busy:
		err = w.bw.Flush()
	case !w.kicked:
		w.kicked = true
		w.kick <- struct{}{}
	}
	if err != nil {
		w.err = err
		return err
	}
	return encErr
}
