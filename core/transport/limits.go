package transport

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the server's defences against slow and hostile peers. Each
// can be changed with the ServerOption of the same name.
const (
	// DefaultFrameTimeout bounds the time between the arrival of a frame's
	// 4-byte header and the arrival of its last byte: 10s, which a 4 MiB
	// frame meets at 420 KB/s. A peer that sends part of a frame and then
	// nothing is disconnected when it passes.
	DefaultFrameTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a connection on which no frame arrived for
	// this long while no request or stream was in progress: 2 minutes.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxConns is the number of connections a server holds at once;
	// connections beyond it are closed as soon as they are accepted: 1024.
	DefaultMaxConns = 1024
	// DefaultConnBufferLimit bounds the bytes of request frames one
	// connection holds, counting the frame being received and the requests
	// whose handlers are running: 16 MiB. Past it the server stops reading
	// the connection until its handlers finish.
	DefaultConnBufferLimit = 16 << 20
	// DefaultBufferLimit bounds the bytes of frames being received, across
	// all connections, beyond the first frameAllowance bytes of each: 32 MiB.
	// A connection that would pass it waits, within its frame timeout, for
	// other frames to complete.
	DefaultBufferLimit = 32 << 20
)

// frameAllowance is the part of every frame that a connection may receive
// without waiting for the server-wide buffer limit, so that ordinary
// requests are never held up by peers that fill the limit.
const frameAllowance = 32 << 10

// errFrameTimeout is the cause of closing a connection whose frame did not
// complete within the frame timeout.
var errFrameTimeout = errors.New("transport: frame not completed within the frame timeout")

// WithFrameTimeout sets how long a peer may take to send the rest of a frame
// once its header arrived (default DefaultFrameTimeout).
func WithFrameTimeout(d time.Duration) ServerOption {
	return func(s *Server) {
		if d > 0 {
			s.frameTimeout = d
		}
	}
}

// WithIdleTimeout sets how long a connection with no request or stream in
// progress may stay silent before the server closes it (default
// DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) ServerOption {
	return func(s *Server) {
		if d > 0 {
			s.idleTimeout = d
		}
	}
}

// WithMaxConns sets the number of connections the server holds at once
// (default DefaultMaxConns).
func WithMaxConns(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.maxConns = n
		}
	}
}

// WithConnBufferLimit sets the bytes of request frames one connection may
// hold (default DefaultConnBufferLimit). It is raised to the maximum frame
// size when smaller.
func WithConnBufferLimit(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.connLimit = n
		}
	}
}

// WithBufferLimit sets the bytes of frames being received across all
// connections (default DefaultBufferLimit).
func WithBufferLimit(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.totalLimit = n
		}
	}
}

// byteBudget counts bytes against a limit. Acquiring never fails when the
// caller is the only holder, so a single frame up to the maximum size always
// fits.
type byteBudget struct {
	used    atomic.Int64
	waiters atomic.Int32
	limit   int64
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when bytes are released
}

func newByteBudget(limit int) *byteBudget {
	return &byteBudget{limit: int64(limit), wake: make(chan struct{})}
}

// tryAcquire takes n bytes if they fit, or if the bytes in use are all
// mine (held by the caller).
func (b *byteBudget) tryAcquire(n, mine int64) bool {
	for {
		u := b.used.Load()
		if u != mine && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// acquire takes n bytes, waiting for releases until deadline (zero: no
// deadline) or until done is closed. mine is what the caller already holds.
func (b *byteBudget) acquire(n, mine int64, deadline time.Time, done <-chan struct{}) error {
	if b.tryAcquire(n, mine) {
		return nil
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		b.mu.Lock()
		wake := b.wake
		b.mu.Unlock()
		if b.tryAcquire(n, mine) {
			return nil
		}
		select {
		case <-wake:
		case <-timeout:
			return errFrameTimeout
		case <-done:
			return ErrConnClosed
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.used.Add(-n)
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		close(b.wake)
		b.wake = make(chan struct{})
		b.mu.Unlock()
	}
}

// readFrame reads one frame from the connection under the server's limits.
// It returns the number of bytes it counted against the connection's
// budget, which the caller releases when the frame is no longer held, and
// the pooled buffer of a stream message (see newFrameFor).
func (sc *serverConn) readFrame() (f *Frame, p *[]byte, held int64, err error) {
	br := sc.br
	n, err := readLength(br, sc.s.max)
	if err != nil {
		return nil, nil, 0, err
	}
	sc.frames.Add(1)
	if !sc.held.tryAcquire(int64(n), 0) {
		// Requests of this connection hold its share: read nothing more
		// until they finish.
		if err := sc.held.acquire(int64(n), 0, time.Time{}, sc.ctx.Done()); err != nil {
			return nil, nil, 0, err
		}
	}
	var buf []byte
	if br.Buffered() >= n {
		buf, p = frameBuf(br, n)
		_, _ = io.ReadFull(br, buf) // cannot fail: the bytes are buffered
		f = newFrameFor(p)
	} else if buf, err = sc.readSlow(br, n); err != nil {
		sc.held.release(int64(n))
		return nil, nil, 0, err
	}
	if f == nil {
		f = new(Frame)
	}
	if err := DecodeFrame(buf, f, &sc.in); err != nil {
		sc.held.release(int64(n))
		return nil, nil, 0, err
	}
	return f, p, int64(n), nil
}

// readSlow receives a frame of n bytes that has not fully arrived: within
// the frame timeout, into a buffer that grows as bytes arrive (a peer that
// announces 4 MiB and sends 1 KiB costs 1 KiB, not 4 MiB), and past the
// first frameAllowance bytes only within the server-wide buffer limit.
func (sc *serverConn) readSlow(br *bufio.Reader, n int) ([]byte, error) {
	s := sc.s
	deadline := time.Now().Add(s.frameTimeout)
	sc.receiving.Store(true)
	defer sc.receiving.Store(false)
	if err := sc.nc.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	defer sc.nc.SetReadDeadline(time.Time{})
	var reserved int64
	defer func() { s.total.release(reserved) }()
	buf := make([]byte, 0, min(n, max(br.Buffered(), frameAllowance)))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			next := min(n, 2*cap(buf))
			need := int64(next - max(cap(buf), frameAllowance))
			if need > 0 {
				if err := s.total.acquire(need, reserved, deadline, sc.ctx.Done()); err != nil {
					return nil, err
				}
				reserved += need
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		m, err := br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// sweep closes connections that stayed idle for the idle timeout: no frame
// arrived and no request or stream was in progress.
func (s *Server) sweep() {
	defer s.workWG.Done()
	tick := min(max(s.idleTimeout/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			s.mu.Lock()
			for sc := range s.conns {
				frames := sc.frames.Load()
				if sc.busy() || frames != sc.idleFrames {
					sc.idleFrames, sc.idleSince = frames, now
					continue
				}
				if now.Sub(sc.idleSince) >= s.idleTimeout {
					sc.nc.Close()
				}
			}
			s.mu.Unlock()
		}
	}
}
