package transport

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	merrors "github.com/seedmicro/micro/core/errors"
)

// Handler answers one request frame with a response frame. The context ends
// when the request's timeout passes, when the client cancels the request, or
// when the connection closes. The transport sets the response's Kind and ID.
type Handler func(ctx context.Context, req *Frame) *Frame

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("transport: server closed")

// Server is the server side: it accepts connections and runs a Handler for
// every request frame, each in its own goroutine.
type Server struct {
	handler Handler
	streams StreamHandler
	max     int
	window  int

	frameTimeout time.Duration
	idleTimeout  time.Duration
	maxConns     int
	connLimit    int
	totalLimit   int
	total        *byteBudget
	sweepOnce    sync.Once

	inflight atomic.Int64
	draining atomic.Bool

	// Requests run on long-lived worker goroutines: a new goroutine per
	// request would grow its stack from scratch every time.
	work    chan job
	workers atomic.Int32
	quit    chan struct{}
	workWG  sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	closed    bool
	wg        sync.WaitGroup
	quitOnce  sync.Once
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithServerMaxFrameSize sets the largest frame the server accepts or sends.
func WithServerMaxFrameSize(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.max = n
		}
	}
}

// WithStreamHandler sets the handler of streams; without one, streams are
// refused with an Unimplemented status.
func WithStreamHandler(h StreamHandler) ServerOption {
	return func(s *Server) { s.streams = h }
}

// WithServerStreamWindow sets the receive window of each stream (default
// DefaultStreamWindow, at least InitialStreamWindow).
func WithServerStreamWindow(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.window = n
		}
	}
}

// NewServer returns a server that answers requests with h.
func NewServer(h Handler, opts ...ServerOption) *Server {
	s := &Server{
		handler:      h,
		max:          DefaultMaxFrameSize,
		window:       DefaultStreamWindow,
		frameTimeout: DefaultFrameTimeout,
		idleTimeout:  DefaultIdleTimeout,
		maxConns:     DefaultMaxConns,
		connLimit:    DefaultConnBufferLimit,
		totalLimit:   DefaultBufferLimit,
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[*serverConn]struct{}),
		work:         make(chan job),
		quit:         make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.connLimit = max(s.connLimit, s.max)
	s.total = newByteBudget(s.totalLimit)
	return s
}

// Serve accepts connections on l until l fails or the server is shut down.
// It returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.sweepOnce.Do(func() {
		s.workWG.Add(1)
		go s.sweep()
	})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.track(nc) {
			nc.Close()
			return ErrServerClosed
		}
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.maxConns {
		// Over the connection limit: refuse this one, keep serving.
		nc.Close()
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &serverConn{s: s, nc: nc, ctx: ctx, cancel: cancel, reqs: make(map[uint64]context.CancelFunc), streams: make(map[uint64]*Stream),
		held: newByteBudget(s.connLimit), idleSince: time.Now()}
	sc.w = newFrameWriter(nc, s.max, func(error) { nc.Close() })
	sc.br = bufio.NewReaderSize(nc, 32<<10)
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	s.dispatch(job{sc: sc})
	return true
}

// InFlight returns the number of requests being handled.
func (s *Server) InFlight() int { return int(s.inflight.Load()) }

// CloseListeners stops accepting new connections; existing connections keep
// working.
func (s *Server) CloseListeners() {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
}

// Shutdown stops accepting connections, answers new requests with a
// retryable Unavailable error, waits for requests in flight to finish (or for
// ctx to end), then closes every connection. It returns ctx's error if
// requests were still running when ctx ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.CloseListeners()
	s.draining.Store(true)
	var err error
	if s.inflight.Load() > 0 {
		t := time.NewTicker(time.Millisecond)
	wait:
		for s.inflight.Load() > 0 {
			select {
			case <-ctx.Done():
				err = ctx.Err()
				break wait
			case <-t.C:
			}
		}
		t.Stop()
	}
	s.closeConns()
	return err
}

// Close closes listeners and connections at once; handlers' contexts are
// cancelled.
func (s *Server) Close() error {
	s.CloseListeners()
	s.draining.Store(true)
	s.closeConns()
	return nil
}

func (s *Server) closeConns() {
	s.mu.Lock()
	for sc := range s.conns {
		sc.cancel()
		sc.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	// Every connection is gone, so no request can arrive: stop the workers.
	s.quitOnce.Do(func() { close(s.quit) })
	s.workWG.Wait()
}

// job is the reading of a connection.
type job struct {
	sc *serverConn
}

func (j job) run() {
	j.sc.read()
}

// maxIdleWorkers bounds the goroutines kept waiting for work.
const maxIdleWorkers = 512

// dispatch hands j to an idle worker, or starts a new one.
func (s *Server) dispatch(j job) {
	select {
	case s.work <- j:
	default:
		s.workWG.Add(1)
		s.workers.Add(1)
		go s.worker(j)
	}
}

func (s *Server) worker(j job) {
	defer s.workWG.Done()
	for {
		j.run()
		if s.workers.Load() > maxIdleWorkers {
			s.workers.Add(-1)
			return
		}
		select {
		case j = <-s.work:
		case <-s.quit:
			s.workers.Add(-1)
			return
		}
	}
}

type serverConn struct {
	s      *Server
	nc     net.Conn
	w      *frameWriter
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	reqs     map[uint64]context.CancelFunc
	streams  map[uint64]*Stream
	handlers sync.WaitGroup
	active   atomic.Int32  // requests being handled
	nstreams atomic.Int32  // streams open
	br       *bufio.Reader // used by the one goroutine reading at a time
	in       Interner

	held      *byteBudget   // bytes of request frames this connection holds
	frames    atomic.Uint64 // frames whose header arrived
	receiving atomic.Bool   // a frame is partly received
	// Guarded by s.mu, used by the idle sweeper only.
	idleFrames uint64
	idleSince  time.Time
}

// busy says whether the connection has work in progress, so that it is not
// idle whatever the time since its last frame.
func (sc *serverConn) busy() bool {
	return sc.active.Load() > 0 || sc.nstreams.Load() > 0 || sc.receiving.Load()
}

var errDraining = &Frame{Code: uint32(merrors.Unavailable), Message: "server is shutting down", Flags: FlagRetryable}

// read reads frames until a request arrives. It hands the reading of the
// connection to another worker and handles the request itself: the request
// runs on a goroutine that is already running, and waking the next reader
// happens off the request's path.
func (sc *serverConn) read() {
	for {
		f, p, held, err := sc.readFrame()
		if err != nil {
			sc.finish()
			return
		}
		switch f.Kind {
		case KindRequest:
			if refused, err := sc.refuse(f, KindResponse); refused {
				sc.held.release(held)
				if err != nil {
					sc.finish()
					return
				}
				continue
			}
			sc.handlers.Add(1)
			sc.active.Add(1)
			sc.s.dispatch(job{sc: sc})
			sc.handle(f, held)
			return
		case KindStream:
			sc.held.release(held)
			if refused, err := sc.refuse(f, KindEnd); refused {
				if err != nil {
					sc.finish()
					return
				}
				continue
			}
			sc.handlers.Add(1)
			sc.nstreams.Add(1)
			st, ctx, cancel := sc.openStream(f)
			sc.s.dispatch(job{sc: sc})
			sc.runStream(ctx, cancel, f, st)
			return
		case KindData, KindEnd, KindWindow:
			sc.held.release(held)
			sc.mu.Lock()
			st := sc.streams[f.ID]
			sc.mu.Unlock()
			if st == nil {
				continue
			}
			switch f.Kind {
			case KindData:
				st.deliver(f, p)
			case KindEnd:
				st.peerDone()
			case KindWindow:
				if st.addCredit(f) != nil {
					sc.finish()
					return
				}
			}
		case KindCancel:
			sc.held.release(held)
			sc.mu.Lock()
			cancel := sc.reqs[f.ID]
			if st := sc.streams[f.ID]; st != nil {
				cancel = st.cancel
			}
			sc.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		default:
			sc.held.release(held)
		}
	}
}

// refuse counts the request or stream that f opens as in flight or, while
// the server drains, answers it at once with a retryable Unavailable in a
// frame of kind answer and reports that it did; err is the failure to
// write that answer.
func (sc *serverConn) refuse(f *Frame, answer Kind) (refused bool, err error) {
	sc.s.inflight.Add(1)
	if !sc.s.draining.Load() {
		return false, nil
	}
	sc.s.inflight.Add(-1)
	rsp := *errDraining
	rsp.Kind, rsp.ID = answer, f.ID
	return true, sc.w.write(&rsp, false)
}

// finish tears the connection down once reading failed.
func (sc *serverConn) finish() {
	defer sc.s.wg.Done()
	sc.cancel()
	sc.nc.Close()
	sc.handlers.Wait()
	sc.w.close()
	sc.s.mu.Lock()
	delete(sc.s.conns, sc)
	sc.s.mu.Unlock()
}

func (sc *serverConn) handle(req *Frame, held int64) {
	defer sc.handlers.Done()
	defer sc.held.release(held)
	defer sc.s.inflight.Add(-1)
	var ctx context.Context
	var cancel context.CancelFunc
	if req.Timeout > 0 {
		ctx, cancel = context.WithTimeout(sc.ctx, req.Timeout)
	} else {
		ctx, cancel = context.WithCancel(sc.ctx)
	}
	sc.mu.Lock()
	sc.reqs[req.ID] = cancel
	sc.mu.Unlock()

	rsp := sc.s.handler(ctx, req)

	sc.mu.Lock()
	delete(sc.reqs, req.ID)
	sc.mu.Unlock()
	cancel()
	if rsp == nil {
		rsp = &Frame{Code: uint32(merrors.Internal), Message: "handler returned no response"}
	}
	rsp.Kind, rsp.ID = KindResponse, req.ID
	busy := sc.active.Add(-1) > 0
	if err := sc.w.write(rsp, busy); errors.Is(err, ErrFrameTooLarge) {
		_ = sc.w.write(&Frame{Kind: KindResponse, ID: req.ID, Code: uint32(merrors.ResourceExhausted), Message: "response too large: " + err.Error()}, busy)
	}
}

// openStream registers the stream that open starts, before the connection's
// next frame is read, so that its messages find it.
func (sc *serverConn) openStream(open *Frame) (*Stream, context.Context, context.CancelFunc) {
	var ctx context.Context
	var cancel context.CancelFunc
	if open.Timeout > 0 {
		ctx, cancel = context.WithTimeout(sc.ctx, open.Timeout)
	} else {
		ctx, cancel = context.WithCancel(sc.ctx)
	}
	st := newStream(open.ID, sc.w, false, sc.s.window, sc.s.max)
	st.ctx, st.cancel = ctx, cancel
	st.connBusy = func() bool { return sc.active.Load() > 0 || sc.nstreams.Load() > 1 }
	st.violation = func() { sc.nc.Close() }
	st.onEnd = func() {
		sc.mu.Lock()
		if sc.streams[st.id] == st {
			delete(sc.streams, st.id)
		}
		sc.mu.Unlock()
	}
	sc.mu.Lock()
	sc.streams[open.ID] = st
	sc.mu.Unlock()
	return st, ctx, cancel
}

// runStream runs the stream handler and sends the stream's status.
func (sc *serverConn) runStream(ctx context.Context, cancel context.CancelFunc, open *Frame, st *Stream) {
	defer sc.handlers.Done()
	defer sc.s.inflight.Add(-1)
	defer sc.nstreams.Add(-1)
	if g := st.openGrant(); g > 0 {
		st.grant(g)
	}
	var status *Frame
	if sc.s.streams == nil {
		status = &Frame{Code: uint32(merrors.Unimplemented), Message: "this server serves no streams"}
	} else {
		status = sc.s.streams(ctx, open, st)
	}
	cancel()
	st.terminate(ErrStreamClosed, ErrStreamClosed)
	end := Frame{Kind: KindEnd, ID: open.ID}
	if status != nil {
		end.Code, end.Message, end.Flags = status.Code, status.Message, status.Flags
	}
	_ = sc.w.write(&end, sc.active.Load() > 0 || sc.nstreams.Load() > 1)
}
