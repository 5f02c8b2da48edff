package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Kind says what a frame is.
type Kind uint8

// Frame kinds.
const (
	// KindRequest asks the peer to run Service/Endpoint with Body.
	KindRequest Kind = 1
	// KindResponse answers the request with the same ID.
	KindResponse Kind = 2
	// KindCancel tells the server that the client gave up on request or
	// stream ID.
	KindCancel Kind = 3
)

// Flags on a frame.
const (
	// FlagRetryable marks an error response that the framework produced
	// before the handler ran (for example while the server drains), so the
	// client may safely send the request to another node.
	FlagRetryable uint8 = 1 << 0
)

// DefaultMaxFrameSize is the largest frame a connection accepts unless
// configured otherwise: 4 MiB.
const DefaultMaxFrameSize = 4 << 20

// ErrFrameTooLarge is returned when a frame's announced size exceeds the
// limit. The limit is checked before any memory for the frame is allocated.
var ErrFrameTooLarge = errors.New("transport: frame exceeds the maximum frame size")

// ErrMalformedFrame is returned for a frame whose contents do not parse.
var ErrMalformedFrame = errors.New("transport: malformed frame")

// Frame is the unit that travels on a connection.
//
// On the wire a frame is a 4-byte big-endian length followed by that many
// bytes: kind (1 byte), flags (1 byte), then as unsigned varints or
// varint-length-prefixed strings: ID, Service, Endpoint, ContentType,
// Timeout (nanoseconds), Code, Message, the number of metadata strings and
// each string; the rest of the frame is the Body.
type Frame struct {
	Kind        Kind
	Flags       uint8
	ID          uint64
	Service     string
	Endpoint    string
	ContentType string
	// Timeout is the time the client still waits for the response; zero
	// means no deadline.
	Timeout time.Duration
	// Code and Message carry an error in a response; Code 0 means success.
	Code    uint32
	Message string
	// Meta holds metadata as key, value, key, value, ...
	Meta []string
	Body []byte
}

// headerSize is an upper bound of the encoded size of f without its body.
func (f *Frame) encodedSize() int {
	n := 4 + 2 + 5*binary.MaxVarintLen64 + len(f.Service) + len(f.Endpoint) + len(f.ContentType) + len(f.Message)
	for _, s := range f.Meta {
		n += binary.MaxVarintLen64 + len(s)
	}
	return n + len(f.Body)
}

// AppendFrame appends the wire form of f to b. It returns ErrFrameTooLarge if
// the frame would exceed max bytes (0 means DefaultMaxFrameSize).
func AppendFrame(b []byte, f *Frame, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(f.Kind), f.Flags)
	b = binary.AppendUvarint(b, f.ID)
	b = appendString(b, f.Service)
	b = appendString(b, f.Endpoint)
	b = appendString(b, f.ContentType)
	b = binary.AppendUvarint(b, uint64(max64(int64(f.Timeout), 0)))
	b = binary.AppendUvarint(b, uint64(f.Code))
	b = appendString(b, f.Message)
	b = binary.AppendUvarint(b, uint64(len(f.Meta)))
	for _, s := range f.Meta {
		b = appendString(b, s)
	}
	b = append(b, f.Body...)
	n := len(b) - start - 4
	if n > max {
		return b[:start], fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadFrame reads one frame from r into f. Frames larger than max (0 means
// DefaultMaxFrameSize) are refused with ErrFrameTooLarge before anything is
// allocated for them. Strings are interned through in when it is not nil.
func ReadFrame(r *bufio.Reader, f *Frame, max int, in *Interner) error {
	buf, _, err := readFrameContents(r, max, false)
	if err != nil {
		return err
	}
	return DecodeFrame(buf, f, in)
}

// readFrameContents reads the next frame's contents, without its length, as
// ReadFrame does. With pool set, a stream message is read into a pooled
// buffer, returned as p too (see newFrameFor).
func readFrameContents(r *bufio.Reader, max int, pool bool) (buf []byte, p *[]byte, err error) {
	n, err := readLength(r, max)
	if err != nil {
		return nil, nil, err
	}
	if pool {
		buf, p = frameBuf(r, n)
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	return buf, p, nil
}

// readLength reads a frame's 4-byte length and checks it against max (0
// means DefaultMaxFrameSize).
func readLength(r *bufio.Reader, max int) (int, error) {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	hdr, err := r.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hdr) > 0 {
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if _, err := r.Discard(4); err != nil {
		return 0, err
	}
	if uint64(n) > uint64(max) {
		return 0, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, max)
	}
	return int(n), nil
}

// frameBuf returns a buffer for the n bytes of the frame that r reads next:
// a pooled one (also returned as p) for a stream message, which the
// stream's reader gives back, a new one for any other frame.
func frameBuf(r *bufio.Reader, n int) (buf []byte, p *[]byte) {
	if n > 0 && n <= maxPooled {
		if k, err := r.Peek(1); err == nil && Kind(k[0]) == KindData {
			p = pooledBuf(n)
			return *p, p
		}
	}
	return make([]byte, n), nil
}

// DecodeFrame parses the contents of one frame (without its length prefix)
// into f. f.Body aliases buf.
func DecodeFrame(buf []byte, f *Frame, in *Interner) error {
	d := decoder{b: buf, in: in}
	if len(buf) < 2 {
		return fmt.Errorf("%w: %d bytes is shorter than the 2-byte frame header", ErrMalformedFrame, len(buf))
	}
	f.Kind = Kind(buf[0])
	f.Flags = buf[1]
	d.b = buf[2:]
	if f.Kind < KindRequest || f.Kind > KindWindow {
		return fmt.Errorf("%w: unknown frame kind %d", ErrMalformedFrame, f.Kind)
	}
	f.ID = d.uvarint()
	f.Service = d.string(true)
	f.Endpoint = d.string(true)
	f.ContentType = d.string(true)
	t := d.uvarint()
	if t > 1<<62 {
		d.fail("timeout out of range")
	}
	f.Timeout = time.Duration(t)
	c := d.uvarint()
	if c > 1<<32-1 {
		d.fail("code out of range")
	}
	f.Code = uint32(c)
	f.Message = d.string(false)
	m := d.uvarint()
	if d.err == nil && m > uint64(len(d.b)) {
		// Each string takes at least one byte, so a larger count cannot
		// be genuine; refuse it before allocating the slice.
		d.fail("metadata count larger than the frame")
	}
	f.Meta = nil
	if d.err == nil && m > 0 {
		if m%2 != 0 {
			d.fail("odd number of metadata strings")
		} else {
			f.Meta = make([]string, m)
			for i := range f.Meta {
				f.Meta[i] = d.string(i%2 == 0)
			}
		}
	}
	if d.err != nil {
		return d.err
	}
	f.Body = d.b
	if len(f.Body) == 0 {
		f.Body = nil
	}
	return nil
}

type decoder struct {
	b   []byte
	in  *Interner
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformedFrame, what)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(intern bool) string {
	l := d.uvarint()
	if d.err != nil {
		return ""
	}
	if l > uint64(len(d.b)) {
		d.fail("string longer than the frame")
		return ""
	}
	s := d.b[:l]
	d.b = d.b[l:]
	if intern && d.in != nil {
		return d.in.String(s)
	}
	return string(s)
}

// Interner returns the same string for the same bytes, so that names that
// repeat on a connection (service, endpoint, content type, metadata keys)
// are allocated once. It holds at most a bounded number of strings. It is
// not safe for concurrent use; give each connection its own.
type Interner struct {
	m    map[string]string
	last string // the string returned last: a stream's messages repeat their content type
}

const maxInterned = 512

// String returns b as a string, reusing an earlier allocation when possible.
func (in *Interner) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if string(b) == in.last {
		return in.last
	}
	if s, ok := in.m[string(b)]; ok {
		in.last = s
		return s
	}
	s := string(b)
	if len(b) <= 64 {
		if in.m == nil {
			in.m = make(map[string]string)
		}
		if len(in.m) < maxInterned {
			in.m[s] = s
		}
	}
	return s
}
