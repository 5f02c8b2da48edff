package plugin

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// The data link. On Unix the host link (hostlink.go) is one end of a
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
// (linkcodec.go), to the same bytes as the generated code. Frames of any
// type written while a write is in progress go together in the next one
// (linkWriter).
//
// The plugin first sends a linkHello frame; a host that does not read one
// (a plugin built before the data link, whose descriptor 3 may be a pipe)
// publishes and takes deliveries over gRPC. Everything else
// (configuration, subscribing and unsubscribing, registry and store calls)
// stays on gRPC.
const (
	// linkHello (plugin to host, first frame): the plugin serves the data
	// link. Payload: the version, one byte, linkVersion.
	linkHello byte = 1
	// linkPublish: host to plugin a PublishBatch, plugin to host a
	// PublishResultBatch.
	linkPublish byte = 2
	// linkDeliver: plugin to host, a DeliveryBatch.
	linkDeliver byte = 3
	// linkAnswer: host to plugin, an AnswerBatch.
	linkAnswer byte = 4

	linkVersion = 1
	// maxLinkFrame bounds a frame's length: the length is checked before
	// anything is allocated for it.
	maxLinkFrame = 1 << 30
	// linkHelloWait is how long the host waits for the hello once the
	// plugin has answered the handshake. The plugin sends it before it
	// answers the handshake, so it is already there when the host looks;
	// only a plugin without data link makes the host wait this long.
	linkHelloWait = 200 * time.Millisecond
)

// errLinkFrame is a frame that breaks the link's format.
var errLinkFrame = errors.New("plugin data link: bad frame")

// appendLinkFrame appends a frame of typ to buf, whose payload enc
// appends.
func appendLinkFrame(buf []byte, typ byte, enc func([]byte) ([]byte, error)) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, typ)
	buf, err := enc(buf)
	if err != nil {
		return buf[:start], err
	}
	n := len(buf) - start - 4
	if n > maxLinkFrame {
		return buf[:start], fmt.Errorf("plugin data link: a frame of %d bytes is over the limit of %d", n, maxLinkFrame)
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(n))
	return buf, nil
}

// readLinkFrame reads one frame from r into buf (grown as needed) and
// returns its type and payload, which is valid until the next call.
func readLinkFrame(r *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n == 0 || n > maxLinkFrame {
		return 0, nil, fmt.Errorf("%w: length %d (want 1 to %d)", errLinkFrame, n, maxLinkFrame)
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

// combiner gathers what goroutines add concurrently and flushes it in
// batches: the one that finds no flush in progress flushes, after letting
// the goroutines ready to run add theirs (runtime.Gosched), and again until
// nothing is left. A failed flush is dropped: the link is broken, and its
// reader ends what depends on it.
type combiner[T any] struct {
	flush func([]T) error

	mu      sync.Mutex
	items   []T
	spare   []T
	sending bool
}

func (c *combiner[T]) add(x T) {
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
		_ = c.flush(batch)
		clear(batch)
		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
	}
}

// linkWriter writes frames to a data link. Frames added while one write
// is in progress go together in the next: the caller that finds no write
// in progress writes what is pending, and again until nothing is, so
// publishes, answers and deliveries made at the same moment share a
// system call (and the peer a wake-up).
type linkWriter struct {
	c net.Conn

	mu      sync.Mutex
	pending []byte // frames not yet written
	spare   []byte
	writing bool
	err     error // the first write error: the link is broken
}

func (w *linkWriter) write(typ byte, m proto.Message) error {
	return w.writeFunc(typ, marshalFunc(m))
}

// marshalFunc is the payload encoder of m with the generated code.
func marshalFunc(m proto.Message) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		return proto.MarshalOptions{}.MarshalAppend(b, m)
	}
}

// writeFunc adds a frame of typ whose payload enc appends. It returns an
// encoding error, or the link's write error; a frame added while another
// caller writes is left to that caller, and writeFunc returns nil before
// it is written: should the write fail, the link's reader ends what
// depends on the link, as it does when the peer goes.
func (w *linkWriter) writeFunc(typ byte, enc func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	var err error
	if w.pending, err = appendLinkFrame(w.pending, typ, enc); err != nil {
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
		_, err := w.c.Write(b)
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

// hostData is the host's side of a plugin's data link. One goroutine reads
// it (read), handing publish answers to the publish mux and deliveries to
// their subscriptions, until the link ends with the process.
type hostData struct {
	w       linkWriter
	r       *bufio.Reader
	taken   atomic.Bool
	answers combiner[*pluginpb.Answer]

	mu  sync.Mutex
	err error       // set when read ends: the link is down
	mux *publishMux // the mux that took the link; answers go to it

	subsMu  sync.Mutex
	subs    map[uint64]linkSub
	nextKey uint64
}

// linkSub is the subscription stream a data-link key stands for.
type linkSub struct {
	s   *subscription
	gen uint64
}

// readHello reads the plugin's hello within linkHelloWait, and then reads
// the link until it ends. It returns nil when the plugin sent no hello: it
// is spoken to over gRPC only.
func readHello(c net.Conn, log *slog.Logger) *hostData {
	d := &hostData{
		w:    linkWriter{c: c},
		r:    bufio.NewReader(c),
		subs: make(map[uint64]linkSub),
	}
	d.answers.flush = func(as []*pluginpb.Answer) error {
		return d.w.write(linkAnswer, &pluginpb.AnswerBatch{Answers: as})
	}
	c.SetReadDeadline(time.Now().Add(linkHelloWait))
	var buf []byte
	typ, p, err := readLinkFrame(d.r, &buf)
	c.SetReadDeadline(time.Time{})
	switch {
	case err != nil:
		log.Debug("the plugin has no data link; it is spoken to over gRPC only", "error", err)
		return nil
	case typ != linkHello || len(p) != 1:
		log.Warn("the plugin's data link starts with a frame that is not a hello; it is spoken to over gRPC only", "type", typ)
		return nil
	case p[0] != linkVersion:
		log.Warn("the plugin's data link has another version; it is spoken to over gRPC only", "version", p[0], "want", linkVersion)
		return nil
	}
	go d.read(log)
	return d
}

// read reads frames until the link ends.
func (d *hostData) read(log *slog.Logger) {
	var buf []byte
	for {
		typ, p, err := readLinkFrame(d.r, &buf)
		if err == nil {
			err = d.frame(typ, p)
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				log.Error("plugin data link", "error", err)
			}
			d.mu.Lock()
			d.err = linkDown(err)
			m := d.mux
			d.mu.Unlock()
			if m != nil {
				m.fail(d.err)
			}
			return
		}
	}
}

func (d *hostData) frame(typ byte, p []byte) error {
	switch typ {
	case linkPublish:
		var batch pluginpb.PublishResultBatch
		if err := proto.Unmarshal(p, &batch); err != nil {
			return fmt.Errorf("%w: publish answers: %v", errLinkFrame, err)
		}
		d.mu.Lock()
		m := d.mux
		d.mu.Unlock()
		if m != nil {
			m.answer(&batch)
		}
	case linkDeliver:
		batch, err := decodeDeliveryBatch(p)
		if err != nil {
			return fmt.Errorf("%w: deliveries: %v", errLinkFrame, err)
		}
		for _, dl := range batch {
			d.subsMu.Lock()
			ls, ok := d.subs[dl.sub]
			d.subsMu.Unlock()
			switch {
			case ok && dl.cancel:
				ls.s.cancelDelivery(ls.gen, dl.id)
			case ok && dl.msg != nil:
				ls.s.dispatchLink(d, dl.sub, ls.gen, dl.id, dl.msg)
			case !ok && !dl.cancel:
				// Its stream is gone, and with it the plugin's wait.
				d.answers.add(&pluginpb.Answer{Sub: dl.sub, Id: dl.id, Reject: true, Error: errUnsubscribed.Error()})
			}
		}
	}
	// Other types are of a later version: skipped.
	return nil
}

// register gives stream gen of s a key, or 0 if the link is down.
func (d *hostData) register(s *subscription, gen uint64) uint64 {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	down := d.err != nil
	d.mu.Unlock()
	if down {
		return 0
	}
	d.subsMu.Lock()
	defer d.subsMu.Unlock()
	d.nextKey++
	d.subs[d.nextKey] = linkSub{s, gen}
	return d.nextKey
}

func (d *hostData) unregister(key uint64) {
	if d == nil || key == 0 {
		return
	}
	d.subsMu.Lock()
	delete(d.subs, key)
	d.subsMu.Unlock()
}

// take returns the link for one publish mux, the first time only: the
// link cannot be opened again, so a mux after a failed one uses gRPC.
func (d *hostData) take() bool {
	return d != nil && d.taken.CompareAndSwap(false, true)
}

// SendMsg sends a *pluginpb.PublishBatchEncoded as a publish frame.
func (d *hostData) SendMsg(m any) error {
	if err := d.w.write(linkPublish, m.(proto.Message)); err != nil {
		return linkDown(err)
	}
	return nil
}

// linkDown is the error of calls on a data link that failed: Unavailable,
// as gRPC says of a connection that failed, for the Client to tell
// whether the process died (Client.died).
func linkDown(err error) error {
	return status.Error(codes.Unavailable, "plugin data link: "+err.Error())
}

// setMux makes m the receiver of the publish answers; if the link has
// ended already, m fails at once.
func (d *hostData) setMux(m *publishMux) {
	d.mu.Lock()
	d.mux = m
	err := d.err
	d.mu.Unlock()
	if err != nil {
		m.fail(err)
	}
}

// pluginData is the plugin's side of the data link.
type pluginData struct {
	w          linkWriter
	deliveries combiner[linkDelivery]

	mu   sync.Mutex
	subs map[uint64]*serverSub
}

func newPluginData(c net.Conn) *pluginData {
	d := &pluginData{w: linkWriter{c: c}, subs: make(map[uint64]*serverSub)}
	d.deliveries.flush = func(ds []linkDelivery) error {
		return d.w.writeFunc(linkDeliver, func(b []byte) ([]byte, error) {
			return appendDeliveryBatch(b, ds, d.refuse), nil
		})
	}
	return d
}

// refuse answers, in the host's stead, a delivery that cannot be sent to
// it: its handler rejects the message, which the broker then delivers
// again or dead-letters as it does a rejected one.
func (d *pluginData) refuse(dl linkDelivery, err error) {
	d.mu.Lock()
	ss := d.subs[dl.sub]
	d.mu.Unlock()
	if ss != nil {
		ss.answer(&pluginpb.SubscribeRequest{Id: dl.id, Reject: true, Error: "plugin: the message cannot be sent to the host: " + err.Error()})
	}
}

func (d *pluginData) register(key uint64, ss *serverSub) {
	d.mu.Lock()
	d.subs[key] = ss
	d.mu.Unlock()
}

func (d *pluginData) unregister(key uint64) {
	d.mu.Lock()
	delete(d.subs, key)
	d.mu.Unlock()
}

// sendHello tells the host that the plugin serves the data link. Serve
// sends it before it answers the handshake.
func sendHello(c net.Conn) error {
	_, err := c.Write([]byte{0, 0, 0, 2, linkHello, linkVersion})
	return err
}

// serveData serves the plugin's side of the data link, reading r, until
// it ends: the host is gone, or broke the format.
func serveData(d *pluginData, r *bufio.Reader, srv *server) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		ps  *serverPublish
		buf []byte
	)
	for {
		typ, p, err := readLinkFrame(r, &buf)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		switch typ {
		case linkAnswer:
			var batch pluginpb.AnswerBatch
			if err := proto.Unmarshal(p, &batch); err != nil {
				return fmt.Errorf("%w: answers: %v", errLinkFrame, err)
			}
			for _, a := range batch.Answers {
				d.mu.Lock()
				ss := d.subs[a.Sub]
				d.mu.Unlock()
				if ss != nil {
					ss.answer(&pluginpb.SubscribeRequest{Id: a.Id, Reject: a.Reject, Error: a.Error})
				}
			}
		case linkPublish:
			calls, cancels, err := decodePublishBatch(p)
			if err != nil {
				return fmt.Errorf("%w: publishes: %v", errLinkFrame, err)
			}
			if ps == nil {
				inst := srv.impl.Load()
				if inst == nil || inst.broker == nil {
					// Only a configured broker is sent publishes;
					// answer each all the same.
					if err := d.w.write(linkPublish, notConfigured(calls)); err != nil {
						return err
					}
					continue
				}
				ps = newServerPublish(inst.broker, func(rb *pluginpb.PublishResultBatch) error {
					return d.w.write(linkPublish, rb)
				})
			}
			if err := ps.handle(ctx, calls, cancels); err != nil {
				return err
			}
		}
		// Other types are of a later version: skipped, as the host does.
	}
}

// notConfigured answers every call with errNotConfigured.
func notConfigured(calls []*linkCall) *pluginpb.PublishResultBatch {
	st := status.Convert(toStatus(errNotConfigured, brokerSentinels))
	rb := &pluginpb.PublishResultBatch{}
	for _, c := range calls {
		rb.Results = append(rb.Results, &pluginpb.PublishResult{Id: c.id, Code: uint32(st.Code()), Error: st.Message()})
	}
	return rb
}
