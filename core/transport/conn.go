package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// ErrConnClosed is the cause of the Error returned for requests on a closed
// connection.
var ErrConnClosed = errors.New("connection closed")

// Conn is the client side of a connection: it multiplexes many concurrent
// requests, each waiting for the response with its ID.
type Conn struct {
	nc     net.Conn
	addr   string
	w      *frameWriter
	max    int
	window int

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]chan *Frame
	streams  map[uint64]*Stream
	err      error // set once the connection failed or closed
	done     chan struct{}
	readDone chan struct{}
}

var respChanPool = sync.Pool{New: func() any { return make(chan *Frame, 1) }}

// NewConn starts the client side of a connection on nc. maxFrame bounds
// frames in both directions (0 means DefaultMaxFrameSize).
func NewConn(nc net.Conn, maxFrame int) *Conn {
	return newConn(nc, maxFrame, DefaultStreamWindow)
}

func newConn(nc net.Conn, maxFrame, window int) *Conn {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrameSize
	}
	if window <= 0 {
		window = DefaultStreamWindow
	}
	c := &Conn{
		nc:       nc,
		addr:     nc.RemoteAddr().String(),
		max:      maxFrame,
		window:   window,
		pending:  make(map[uint64]chan *Frame),
		streams:  make(map[uint64]*Stream),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	c.w = newFrameWriter(nc, maxFrame, func(err error) { c.fail(&Error{Op: "write", Addr: c.addr, Err: err}) })
	go c.readLoop()
	return c
}

func (c *Conn) readLoop() {
	defer close(c.readDone)
	br := bufio.NewReaderSize(c.nc, 32<<10)
	var in Interner
	for {
		buf, p, err := readFrameContents(br, c.max, true)
		var f *Frame
		if err == nil {
			f = newFrameFor(p)
			err = DecodeFrame(buf, f, &in)
		}
		if err != nil {
			c.fail(&Error{Op: "read", Addr: c.addr, Err: err})
			return
		}
		if f.Kind != KindResponse {
			if err := c.streamFrame(f, p); err != nil {
				c.fail(&Error{Op: "read", Addr: c.addr, Err: err})
				return
			}
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[f.ID]
		if ok {
			delete(c.pending, f.ID)
		}
		c.mu.Unlock()
		if ok {
			ch <- f
		}
	}
}

// fail closes the connection and fails every pending request with err.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	streams := c.streams
	c.streams = nil
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
	c.w.signalStop()
	for _, ch := range pending {
		ch <- nil
	}
	for _, s := range streams {
		s.terminate(err, err)
	}
}

// streamFrame routes a frame of a stream to it, with the pooled buffer it
// was read into (nil if none). Frames of streams that are over are dropped.
func (c *Conn) streamFrame(f *Frame, buf *[]byte) error {
	c.mu.Lock()
	s := c.streams[f.ID]
	if s != nil && f.Kind == KindEnd {
		delete(c.streams, f.ID)
	}
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	switch f.Kind {
	case KindData:
		s.deliver(f, buf)
	case KindWindow:
		return s.addCredit(f)
	case KindEnd:
		if f.Code == 0 {
			s.terminate(io.EOF, io.EOF)
		} else {
			st := &StatusError{Code: f.Code, Message: f.Message, Retryable: f.Flags&FlagRetryable != 0}
			s.terminate(st, io.EOF)
		}
	}
	return nil
}

// OpenStream opens a stream: open carries the service, endpoint, content
// type, timeout and metadata (its Kind and ID are set here). The stream ends
// when ctx ends (the server is told to cancel it), when it is closed, or when
// the server ends it. Failures of the connection are returned, and later
// reported by Send and Recv, as *Error.
func (c *Conn) OpenStream(ctx context.Context, open *Frame) (*Stream, error) {
	s := newStream(0, c.w, true, c.window, c.max)
	s.ctx = ctx
	s.connBusy = func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending)+len(c.streams) > 1
	}
	s.violation = func() {
		c.fail(&Error{Op: "read", Addr: c.addr, Err: fmt.Errorf("%w on stream %d", ErrStreamProtocol, s.id)})
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	s.id = c.nextID
	c.streams[s.id] = s
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		s.terminate(err, err)
		return nil, err
	}
	stop := func() bool { return false }
	s.onEnd = func() {
		stop()
		c.mu.Lock()
		if c.streams[s.id] == s {
			delete(c.streams, s.id)
		}
		c.mu.Unlock()
	}
	open.Kind, open.ID = KindStream, s.id
	grant := s.openGrant()
	err := c.w.write(open, grant > 0)
	if err == nil && grant > 0 {
		s.grant(grant)
	}
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			s.terminate(err, err)
			return nil, err
		}
		terr := &Error{Op: "write", Addr: c.addr, Err: err}
		c.fail(terr)
		return nil, terr
	}
	// Registered after the open frame is written, so that a cancel never
	// precedes it.
	stopFn := context.AfterFunc(ctx, func() { s.abandon(ctx.Err()) })
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		stopFn()
	} else {
		stop = stopFn
		s.mu.Unlock()
	}
	return s, nil
}

// Err returns the error that ended the connection, or nil while it is usable.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close ends the connection and waits for its reader to stop; pending
// requests fail.
func (c *Conn) Close() error {
	c.fail(&Error{Op: "read", Addr: c.addr, Err: ErrConnClosed})
	<-c.readDone
	c.w.close()
	return nil
}

// RoundTrip sends req (its Kind and ID are set here) and waits for the
// response or for ctx to end. When ctx ends first, the server is told to
// cancel the request and ctx's error is returned. Failures of the connection
// are returned as *Error.
func (c *Conn) RoundTrip(ctx context.Context, req *Frame) (*Frame, error) {
	ch := respChanPool.Get().(chan *Frame)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		respChanPool.Put(ch)
		return nil, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	busy := len(c.pending) > 1
	c.mu.Unlock()

	req.Kind = KindRequest
	req.ID = id
	if err := c.w.write(req, busy); err != nil {
		c.mu.Lock()
		_, mine := c.pending[id]
		if mine {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		if !mine {
			<-ch // the connection failed and answered for us
		}
		respChanPool.Put(ch)
		if errors.Is(err, ErrFrameTooLarge) {
			return nil, err
		}
		terr := &Error{Op: "write", Addr: c.addr, Err: err}
		c.fail(terr)
		return nil, terr
	}

	select {
	case f := <-ch:
		respChanPool.Put(ch)
		if f == nil {
			return nil, c.Err()
		}
		return f, nil
	case <-ctx.Done():
		c.mu.Lock()
		_, mine := c.pending[id]
		if mine {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		if mine {
			respChanPool.Put(ch)
			// Best effort: let the server stop working on it. A failed
			// write is sticky and fails the connection's next request.
			_ = c.w.write(&Frame{Kind: KindCancel, ID: id}, false)
		} else {
			// The response raced with the cancellation; drain it so the
			// channel goes back to the pool empty.
			<-ch
			respChanPool.Put(ch)
		}
		return nil, ctx.Err()
	}
}
