// Package wire is the data link's format: length-prefixed frames of
// protocol buffers over the host link's socket pair, the writer that
// gathers concurrent frames into one write, and the hand-written codec of
// the messages on the hot path (publish calls and deliveries).
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"

	"google.golang.org/protobuf/proto"
)

// The data link. On Unix the host link (package hostlink) is one end of a
// socket pair that the plugin inherits: no other process can reach it, so
// it needs neither TLS nor HTTP/2. Once the plugin has read its TLS
// material, both sides use it for the hot path of a broker, Publish: the
// host writes batches of calls and the plugin answers them, as on a
// PublishMux gRPC stream, with the same messages; and for the deliveries of
// subscriptions: the plugin writes batches of deliveries (and
// cancellations) and the host batches of answers, each tagged with the
// subscription's key (SubscribeRequest.link). Frames are
//
//	length  uint32, big endian: the bytes that follow (type and payload)
//	type    byte
//	payload the protocol buffer of the type
//
// Publish calls and deliveries are encoded and decoded by hand
// (codec.go), to the same bytes as the generated code. Frames of any
// type written while a write is in progress go together in the next one
// (Writer).
//
// The plugin first sends a Hello frame; a host that does not read one
// (a plugin built before the data link, whose descriptor 3 may be a pipe)
// publishes and takes deliveries over gRPC. Everything else
// (configuration, subscribing and unsubscribing, registry and store calls)
// stays on gRPC.
const (
	// Hello (plugin to host, first frame): the plugin serves the data
	// link. Payload: the version, one byte, Version.
	Hello byte = 1
	// Publish: host to plugin a PublishBatch, plugin to host a
	// PublishResultBatch.
	Publish byte = 2
	// Deliver: plugin to host, a DeliveryBatch.
	Deliver byte = 3
	// Answer: host to plugin, an AnswerBatch.
	Answer byte = 4

	Version = 1
	// MaxFrame bounds a frame's length: the length is checked before
	// anything is allocated for it.
	MaxFrame = 1 << 30
)

// ErrFrame is a frame that breaks the link's format.
var ErrFrame = errors.New("plugin data link: bad frame")

// AppendFrame appends a frame of typ to buf, whose payload enc
// appends.
func AppendFrame(buf []byte, typ byte, enc func([]byte) ([]byte, error)) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, typ)
	buf, err := enc(buf)
	if err != nil {
		return buf[:start], err
	}
	n := len(buf) - start - 4
	if n > MaxFrame {
		return buf[:start], fmt.Errorf("plugin data link: a frame of %d bytes is over the limit of %d", n, MaxFrame)
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(n))
	return buf, nil
}

// ReadFrame reads one frame from r into buf (grown as needed) and
// returns its type and payload, which is valid until the next call.
func ReadFrame(r *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n == 0 || n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: length %d (want 1 to %d)", ErrFrame, n, MaxFrame)
	}
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	n--
	if uint32(cap(*buf)) < n {
		// Grow by what arrives rather than by what the length says, so
		// that a length without its bytes allocates little.
		*buf = (*buf)[:0]
		for uint32(len(*buf)) < n {
			chunk := min(n-uint32(len(*buf)), 1<<20)
			l := len(*buf)
			*buf = append(*buf, make([]byte, chunk)...)
			if _, err := io.ReadFull(r, (*buf)[l:]); err != nil {
				return 0, nil, unexpectedEOF(err)
			}
		}
		return typ, *buf, nil
	}
	p := (*buf)[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	return typ, p, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Combiner gathers what goroutines add concurrently and flushes it in
// batches: the one that finds no flush in progress flushes, after letting
// the goroutines ready to run add theirs (runtime.Gosched), and again until
// nothing is left. A failed flush is dropped: the link is broken, and its
// reader ends what depends on it.
type Combiner[T any] struct {
	Flush func([]T) error // writes a batch

	mu      sync.Mutex
	items   []T
	spare   []T
	sending bool
}

func (c *Combiner[T]) Add(x T) {
	c.mu.Lock()
	c.items = append(c.items, x)
	if c.sending {
		c.mu.Unlock()
		return
	}
	c.sending = true
	c.mu.Unlock()
	for {
		runtime.Gosched()
		c.mu.Lock()
		if len(c.items) == 0 {
			c.sending = false
			c.mu.Unlock()
			return
		}
		batch := c.items
		c.items, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_ = c.Flush(batch)
		clear(batch)
		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
	}
}

// Writer writes frames to a data link. Frames added while one write
// is in progress go together in the next: the caller that finds no write
// in progress writes what is pending, and again until nothing is, so
// publishes, answers and deliveries made at the same moment share a
// system call (and the peer a wake-up).
type Writer struct {
	Conn net.Conn

	mu      sync.Mutex
	pending []byte // frames not yet written
	spare   []byte
	writing bool
	err     error // the first write error: the link is broken
}

func (w *Writer) Write(typ byte, m proto.Message) error {
	return w.WriteFunc(typ, MarshalFunc(m))
}

// MarshalFunc is the payload encoder of m with the generated code.
func MarshalFunc(m proto.Message) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		return proto.MarshalOptions{}.MarshalAppend(b, m)
	}
}

// writeFunc adds a frame of typ whose payload enc appends. It returns an
// encoding error, or the link's write error; a frame added while another
// caller writes is left to that caller, and writeFunc returns nil before
// it is written: should the write fail, the link's reader ends what
// depends on the link, as it does when the peer goes.
func (w *Writer) WriteFunc(typ byte, enc func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	var err error
	if w.pending, err = AppendFrame(w.pending, typ, enc); err != nil {
		w.mu.Unlock()
		return err
	}
	if w.writing {
		w.mu.Unlock()
		return nil
	}
	w.writing = true
	for len(w.pending) > 0 {
		b := w.pending
		w.pending, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		_, err := w.Conn.Write(b)
		w.mu.Lock()
		if cap(b) <= 1<<20 {
			w.spare = b[:0]
		}
		if err != nil {
			w.err, w.pending = err, nil
			break
		}
	}
	w.writing = false
	err = w.err
	w.mu.Unlock()
	return err
}
