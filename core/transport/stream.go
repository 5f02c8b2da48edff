package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/seedmicro/micro/core/codec"
)

// Stream frames. A stream is opened by the client with KindStream (the
// request's service, endpoint, timeout and metadata, no body); both sides
// then send messages as KindData frames with the stream's ID. KindEnd from
// the client says it sends no more (half-close); KindEnd from the server
// ends the stream with its status (Code, Message; Code 0 is a clean end).
// KindWindow grants the peer more bytes to send (flow control), KindCancel
// from the client abandons the stream.
const (
	KindStream Kind = 4
	KindData   Kind = 5
	KindEnd    Kind = 6
	KindWindow Kind = 7
)

// Flow control: each direction of a stream starts with InitialStreamWindow
// bytes of credit. A receiver grants more with KindWindow frames as its
// reader consumes messages; a sender may send while its credit is positive,
// and each message costs its body plus streamFrameCost. A receiver with a
// window larger than the initial one grants the difference at once.
const (
	// InitialStreamWindow is the credit every stream direction starts with.
	InitialStreamWindow = 64 << 10
	// DefaultStreamWindow is the receive window of a stream unless
	// configured otherwise: 1 MiB per stream and direction. A reader that
	// stops reading holds at most this (plus one frame) in memory, and
	// stalls only its own stream. A smaller window starves a fast reader:
	// the half of it that is granted back must cover the time the grant
	// takes to reach the sender and the next messages to come back.
	DefaultStreamWindow = 1 << 20
	streamFrameCost     = 32
)

// ErrStreamClosed is returned by a stream's methods after Close.
var ErrStreamClosed = errors.New("transport: stream closed")

// ErrStreamProtocol is the cause of closing a connection whose peer sent
// more than a stream's window allowed, or a malformed window grant.
var ErrStreamProtocol = errors.New("transport: stream flow-control violation")

// StreamHandler runs one stream on the server. open is the KindStream frame
// that opened it. The context ends when the stream's timeout passes, when
// the client cancels, or when the connection closes. The returned frame's
// Code and Message are the stream's status (nil: success); they reach the
// client after every message sent before.
type StreamHandler func(ctx context.Context, open *Frame, s *Stream) *Frame

// Stream is one stream, on the client or the server side. Send and Recv may
// run concurrently with each other, but neither concurrently with itself.
type Stream struct {
	id        uint64
	w         *frameWriter
	client    bool
	window    int64
	maxQueued int64
	ctx       context.Context // Send and Recv give up when it ends
	violation func()          // the peer broke flow control: close the connection
	onEnd     func()          // once, when the stream is over
	cancel    func()          // on the server: cancels ctx
	connBusy  func() bool     // other requests or streams are in progress on the connection

	mu       sync.Mutex
	q        []message // q[head:] are queued; the array is reused
	head     int
	qBytes   int64
	consumed int64 // bytes read but not yet granted back
	recvErr  error // returned by Recv once the queue is empty
	sendErr  error // returned by Send once term is closed
	ended    bool
	endSent  bool
	ready    chan struct{} // capacity 1: a message or the end arrived

	credit   atomic.Int64
	creditCh chan struct{} // capacity 1: credit arrived
	term     chan struct{} // closed when no more can be sent
	endOnce  sync.Once
}

func newStream(id uint64, w *frameWriter, client bool, window, maxFrame int) *Stream {
	window = max(window, InitialStreamWindow)
	s := &Stream{
		id:        id,
		w:         w,
		client:    client,
		window:    int64(window),
		maxQueued: int64(window + maxFrame + streamFrameCost),
		ready:     make(chan struct{}, 1),
		creditCh:  make(chan struct{}, 1),
		term:      make(chan struct{}),
	}
	s.credit.Store(InitialStreamWindow)
	return s
}

// ID returns the stream's ID on its connection.
func (s *Stream) ID() uint64 { return s.id }

func cost(f *Frame) int64 { return int64(len(f.Body)) + streamFrameCost }

// Send sends one message: f's ContentType and Body (and Meta, if any). It
// waits while the peer's window is used up, until ctx of the stream ends.
// It keeps neither f nor its Body once it returned.
// On the client, once the server ended the stream Send returns io.EOF and
// Recv returns the status.
func (s *Stream) Send(f *Frame) error {
	for s.credit.Load() <= 0 {
		select {
		case <-s.creditCh:
		case <-s.term:
			return s.sendError()
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	select {
	case <-s.term:
		return s.sendError()
	default:
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	c := cost(f)
	s.credit.Add(-c)
	f.Kind, f.ID = KindData, s.id
	err := s.w.write(f, s.streaming())
	if errors.Is(err, ErrFrameTooLarge) {
		s.credit.Add(c) // nothing was sent
	}
	return err
}

// SendMsg encodes v with the codec that codec.For picks (proto for a
// proto.Message, JSON otherwise) and sends it as one message, as Send does.
// The encoding goes into a reused buffer. A value that does not encode is
// reported as a *CodecError.
func (s *Stream) SendMsg(v any) error {
	cd := codec.For(v)
	p := encodePool.Get().(*[]byte)
	b, err := codec.Append(cd, (*p)[:0], v)
	if err != nil {
		encodePool.Put(p)
		return &CodecError{Op: "encode", Err: err}
	}
	err = s.Send(&Frame{ContentType: cd.Name(), Body: b})
	if cap(b) <= maxPooled {
		// Send copied the message: the buffer is free again.
		*p = b[:0]
		encodePool.Put(p)
	}
	return err
}

// RecvMsg receives the next message, as Recv does, and decodes it into v
// with the codec its content type names; the message's buffers are reused.
// A message that does not decode is reported as a *CodecError.
func (s *Stream) RecvMsg(v any) error {
	m, err := s.recv()
	if err != nil {
		return err
	}
	defer releaseFrame(m.f, m.buf)
	cd, err := codec.ByName(m.f.ContentType)
	if err == nil {
		err = cd.Unmarshal(m.f.Body, v)
	}
	if err != nil {
		return &CodecError{Op: "decode", Err: err}
	}
	return nil
}

// CodecError is how SendMsg and RecvMsg report a message that does not
// encode or decode; the stream itself is unharmed.
type CodecError struct {
	Op  string // "encode" or "decode"
	Err error
}

func (e *CodecError) Error() string { return "transport: " + e.Op + " message: " + e.Err.Error() }

// Unwrap returns the codec's error.
func (e *CodecError) Unwrap() error { return e.Err }

// streaming guesses whether more frames follow this one soon, so that its
// flush may wait for them: when other requests or streams share the
// connection, when the peer sends nothing more (a server stream's feed) or
// has messages waiting here (a pipelined exchange). A lone stream in
// lockstep, whose peer waits for this message before it sends again,
// flushes at once.
func (s *Stream) streaming() bool {
	if s.connBusy != nil && s.connBusy() {
		// Other work shares the connection: batch with it.
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recvErr != nil || len(s.q) > s.head
}

func (s *Stream) sendError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendErr
}

// Recv returns the next message. At the peer's clean end it returns io.EOF;
// on the client, when the server ended the stream with an error, a
// *StatusError; when the connection failed, an *Error; after the stream's
// context ended, the context's error.
func (s *Stream) Recv() (*Frame, error) {
	m, err := s.recv()
	return m.f, err
}

// recv is Recv, which also returns the pooled buffer of the message.
func (s *Stream) recv() (message, error) {
	for {
		s.mu.Lock()
		if len(s.q) > s.head {
			m := s.q[s.head]
			s.q[s.head] = message{}
			if s.head++; s.head == len(s.q) {
				s.q, s.head = s.q[:0], 0
			}
			c := cost(m.f)
			s.qBytes -= c
			s.consumed += c
			var grant int64
			if s.consumed >= s.window/2 && s.recvErr == nil {
				grant, s.consumed = s.consumed, 0
			}
			s.mu.Unlock()
			if grant > 0 {
				s.grant(grant)
			}
			return m, nil
		}
		if s.recvErr != nil {
			err := s.recvErr
			s.mu.Unlock()
			return message{}, err
		}
		s.mu.Unlock()
		select {
		case <-s.ready:
		case <-s.ctx.Done():
			s.mu.Lock()
			queued := len(s.q) > s.head
			s.mu.Unlock()
			if !queued {
				return message{}, s.ctx.Err()
			}
		}
	}
}

// grant gives the peer n more bytes of credit. The grant goes out at once,
// not with a later batch: a sender that used up its credit waits for it,
// and left to the flusher it would wait until this goroutine blocks, that
// is until the queue ran dry. A failed write fails the connection, which
// ends the stream.
func (s *Stream) grant(n int64) {
	_ = s.w.writeSoon(&Frame{Kind: KindWindow, ID: s.id, Body: binary.AppendUvarint(nil, uint64(n))})
}

// CloseSend tells the peer that no more messages follow (half-close); the
// stream stays open for receiving. On the server it is implied when the
// handler returns.
func (s *Stream) CloseSend() error {
	s.mu.Lock()
	if s.endSent || s.ended {
		s.mu.Unlock()
		return nil
	}
	s.endSent = true
	s.mu.Unlock()
	return s.w.write(&Frame{Kind: KindEnd, ID: s.id}, false)
}

// Close abandons the stream: on the client, the server is told to cancel
// it unless it already ended. Pending and later Send and Recv calls return
// ErrStreamClosed. It is safe to call more than once.
func (s *Stream) Close() error {
	s.abandon(ErrStreamClosed)
	return nil
}

// abandon ends the stream locally with err and, on the client, tells the
// server to cancel it.
func (s *Stream) abandon(err error) {
	if s.terminate(err, err) && s.client {
		_ = s.w.write(&Frame{Kind: KindCancel, ID: s.id}, false)
	}
}

// terminate ends the stream: Send returns sendErr from now on, and Recv
// returns recvErr, after the queued messages when the peer ended the stream
// (a status) and at once when it was abandoned or failed. It reports
// whether this call ended it.
func (s *Stream) terminate(recvErr, sendErr error) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	s.ended = true
	if s.recvErr == nil || s.recvErr == io.EOF && recvErr != io.EOF {
		s.recvErr = recvErr
	}
	if _, ok := recvErr.(*StatusError); !ok && recvErr != io.EOF {
		// Abandoned or failed: what was queued is no longer wanted.
		s.q, s.head, s.qBytes = nil, 0, 0
	}
	s.sendErr = sendErr
	close(s.term)
	s.mu.Unlock()
	s.signal()
	s.endOnce.Do(func() {
		if s.onEnd != nil {
			s.onEnd()
		}
	})
	return true
}

func (s *Stream) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// message is a frame queued for Recv, with the pooled buffer it was read
// into (nil if none).
type message struct {
	f   *Frame
	buf *[]byte
}

// deliver queues a message that arrived from the peer, read into the pooled
// buffer buf (nil if none).
func (s *Stream) deliver(f *Frame, buf *[]byte) {
	s.mu.Lock()
	if s.recvErr != nil || s.ended {
		s.mu.Unlock()
		return
	}
	if len(s.q) == cap(s.q) && s.head > 0 {
		// Reuse the room of the messages already received.
		n := copy(s.q, s.q[s.head:])
		clear(s.q[n:])
		s.q, s.head = s.q[:n], 0
	}
	s.q = append(s.q, message{f, buf})
	s.qBytes += cost(f)
	over := s.qBytes > s.maxQueued
	s.mu.Unlock()
	s.signal()
	if over && s.violation != nil {
		s.violation()
	}
}

// peerDone records the peer's half-close: Recv returns io.EOF after the
// queued messages.
func (s *Stream) peerDone() {
	s.mu.Lock()
	if s.recvErr == nil {
		s.recvErr = io.EOF
	}
	s.mu.Unlock()
	s.signal()
}

// addCredit applies a KindWindow frame.
func (s *Stream) addCredit(f *Frame) error {
	n, k := binary.Uvarint(f.Body)
	if k <= 0 || k != len(f.Body) || n == 0 || n > 1<<40 {
		return fmt.Errorf("%w: bad window grant %x on stream %d", ErrStreamProtocol, f.Body, f.ID)
	}
	if s.credit.Add(int64(n)) > 1<<41 {
		return fmt.Errorf("%w: window of stream %d grew past 2 TiB", ErrStreamProtocol, f.ID)
	}
	select {
	case s.creditCh <- struct{}{}:
	default:
	}
	return nil
}

// openGrant is the credit a receiver with a larger window grants at once.
func (s *Stream) openGrant() int64 { return s.window - InitialStreamWindow }

// StatusError is how a client stream's Recv reports that the server ended
// the stream with an error: the handler's code and message.
type StatusError struct {
	Code    uint32
	Message string
	// Retryable says the server refused the stream before running its
	// handler (it was shutting down).
	Retryable bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("transport: stream ended with code %d: %s", e.Code, e.Message)
}
