package transport

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
)

// ErrConnClosed is the cause of the Error returned for requests on a closed
// connection.
var ErrConnClosed = errors.New("connection closed")

// Conn is the client side of a connection: it multiplexes many concurrent
// requests, each waiting for the response with its ID.
type Conn struct {
	nc   net.Conn
	addr string
	w    *frameWriter
	max  int

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]chan *Frame
	err      error // set once the connection failed or closed
	done     chan struct{}
	readDone chan struct{}
}

var respChanPool = sync.Pool{New: func() any { return make(chan *Frame, 1) }}

// NewConn starts the client side of a connection on nc. maxFrame bounds
// frames in both directions (0 means DefaultMaxFrameSize).
func NewConn(nc net.Conn, maxFrame int) *Conn {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrameSize
	}
	c := &Conn{
		nc:       nc,
		addr:     nc.RemoteAddr().String(),
		max:      maxFrame,
		pending:  make(map[uint64]chan *Frame),
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
		f := new(Frame)
		if err := ReadFrame(br, f, c.max, &in); err != nil {
			c.fail(&Error{Op: "read", Addr: c.addr, Err: err})
			return
		}
		if f.Kind != KindResponse {
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
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
	c.w.signalStop()
	for _, ch := range pending {
		ch <- nil
	}
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
