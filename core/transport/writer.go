package transport

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// Sizes of a frameWriter's buffers.
const (
	// writeBatch is the number of bytes a writer appends before it waits for
	// the connection: while one batch is being written, the next one fills
	// up to this size, then writers wait until the write in progress ends.
	writeBatch = 64 << 10
	// keepBuffer is the largest buffer kept for reuse once written; a buffer
	// grown past it by a large frame goes back to the garbage collector.
	keepBuffer = 2 * writeBatch
)

// frameWriter writes frames to a connection from many goroutines.
//
// A frame is encoded into a buffer of pending bytes, under a lock held only
// for that; the system call happens outside the lock, so that while one
// batch is on its way the next one fills. A frame written while the
// connection is otherwise idle is written at once, by its writer, so a lone
// request pays no extra latency. Under load, frames are appended to the
// buffer and a flusher goroutine sends whatever has accumulated in one
// system call: many frames share a write instead of each paying for its own.
type frameWriter struct {
	waiting atomic.Int32
	mu      sync.Mutex
	cond    sync.Cond // signalled when bytes were written or a write failed
	c       net.Conn
	buf     []byte // pending bytes; allocated by the first write: idle connections hold no buffer
	spare   []byte // the buffer of the last write, reused for the next batch
	queued  uint64 // bytes appended to buf since the start
	written uint64 // of those, bytes handed to the connection
	writing bool   // a goroutine is writing a batch outside the lock
	kicked  bool   // a flush is scheduled
	max     int
	err     error
	onErr   func(error)

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
	w.cond.L = &w.mu
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
			// Nothing more will be flushed: fail the writers that wait.
			w.mu.Lock()
			if w.err == nil {
				w.err = net.ErrClosed
			}
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		// Let writers that are about to append join this batch.
		runtime.Gosched()
		w.mu.Lock()
		w.kicked = false
		var err error
		if !w.writing {
			err = w.drain(false)
		}
		w.mu.Unlock()
		if err != nil && w.onErr != nil {
			w.onErr(err)
		}
	}
}

// drain writes the pending bytes, batch by batch until none are left (or
// only the first batch when once is set). It is called with w.mu held and
// no write in progress, and releases w.mu during each system call. It
// returns the error of a write that failed here.
func (w *frameWriter) drain(once bool) error {
	w.writing = true
	defer func() { w.writing = false }()
	for len(w.buf) > 0 && w.err == nil {
		b := w.buf
		w.buf, w.spare = w.spare[:0], nil
		w.cond.Broadcast() // writers waiting for room may append again
		w.mu.Unlock()
		_, err := w.c.Write(b)
		w.mu.Lock()
		w.written += uint64(len(b))
		if cap(b) <= keepBuffer {
			w.spare = b[:0]
		}
		w.cond.Broadcast()
		if err != nil {
			w.err = err
			return err
		}
		if once {
			if len(w.buf) > 0 {
				// What others appended meanwhile goes to the flusher.
				w.kickLocked()
			}
			break
		}
	}
	return nil
}

// write encodes and sends f. busy says that other requests are in progress
// on the connection, so more frames are likely to follow soon and the
// write may be batched with them; otherwise f is on the connection when
// write returns. An encoding error (frame too large) is returned without
// touching the connection; a write error is sticky.
func (w *frameWriter) write(f *Frame, busy bool) error {
	return w.send(f, busy, false)
}

// writeSoon sends f, which the peer may be waiting for (a window grant),
// without leaving it to the flusher: the caller writes it at once when no
// write is in progress, and otherwise the write in progress takes it along,
// without the caller waiting for that write.
func (w *frameWriter) writeSoon(f *Frame) error {
	return w.send(f, false, true)
}

// send is write and writeSoon: with soon set, f is written now, or with the
// write in progress, and send does not wait for the connection.
func (w *frameWriter) send(f *Frame, busy, soon bool) error {
	w.waiting.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	alone := w.waiting.Add(-1) == 0
	for w.err == nil && len(w.buf) >= writeBatch {
		// The next batch is full: wait for the one being written, or
		// write it when none is.
		if w.writing {
			w.cond.Wait()
		} else {
			_ = w.drain(true) // an error is sticky: the loop ends
		}
	}
	if w.err != nil {
		return w.err
	}
	if w.buf == nil {
		if w.buf, w.spare = w.spare, nil; w.buf == nil {
			w.buf = make([]byte, 0, writeBatch)
		}
	}
	n := len(w.buf)
	var encErr error
	w.buf, encErr = AppendFrame(w.buf, f, w.max)
	w.queued += uint64(len(w.buf) - n)
	end := w.queued
	switch {
	case encErr != nil:
		// Nothing of f was kept; a buffer grown for it alone is dropped.
		if len(w.buf) == 0 && cap(w.buf) > keepBuffer {
			w.buf = nil
		}
		return encErr
	case w.writing:
		// The goroutine writing now sends ours with the next batch (the
		// flusher drains until nothing is left, another writer schedules
		// the flusher when it is done).
		if !busy && !soon {
			// Wait until it left, so that a caller that is done (the
			// last response before a shutdown) knows its frame went out.
			for w.err == nil && w.written < end {
				w.cond.Wait()
			}
			if w.written < end {
				return w.err
			}
		}
		return nil
	case !busy || len(w.buf) >= writeBatch:
		// An idle connection, or a full batch: write now, ourselves.
		return w.drain(true)
	case alone:
		w.kickLocked()
	}
	// Otherwise a writer queued behind us writes or schedules the flush.
	return nil
}

// kickLocked schedules a flush; w.mu is held.
func (w *frameWriter) kickLocked() {
	if !w.kicked {
		w.kicked = true
		w.kick <- struct{}{}
	}
}
