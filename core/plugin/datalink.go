package plugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seedmicro/micro/core/plugin/internal/wire"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// linkHelloWait is how long the host waits for the hello once the plugin
// has answered the handshake. The plugin sends it before it answers the
// handshake, so it is already there when the host looks; only a plugin
// without data link makes the host wait this long.
const linkHelloWait = 200 * time.Millisecond

// hostData is the host's side of a plugin's data link. One goroutine reads
// it (read), handing publish answers to the publish mux and deliveries to
// their subscriptions, until the link ends with the process.
type hostData struct {
	w       wire.Writer
	r       *bufio.Reader
	taken   atomic.Bool
	answers wire.Combiner[*pluginpb.Answer]

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
		w:    wire.Writer{Conn: c},
		r:    bufio.NewReader(c),
		subs: make(map[uint64]linkSub),
	}
	d.answers.Flush = func(as []*pluginpb.Answer) error {
		return d.w.Write(wire.Answer, &pluginpb.AnswerBatch{Answers: as})
	}
	c.SetReadDeadline(time.Now().Add(linkHelloWait))
	var buf []byte
	typ, p, err := wire.ReadFrame(d.r, &buf)
	c.SetReadDeadline(time.Time{})
	switch {
	case err != nil:
		log.Debug("the plugin has no data link; it is spoken to over gRPC only", "error", err)
		return nil
	case typ != wire.Hello || len(p) != 1:
		log.Warn("the plugin's data link starts with a frame that is not a hello; it is spoken to over gRPC only", "type", typ)
		return nil
	case p[0] != wire.Version:
		log.Warn("the plugin's data link has another version; it is spoken to over gRPC only", "version", p[0], "want", wire.Version)
		return nil
	}
	go d.read(log)
	return d
}

// read reads frames until the link ends.
func (d *hostData) read(log *slog.Logger) {
	var buf []byte
	for {
		typ, p, err := wire.ReadFrame(d.r, &buf)
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
	case wire.Publish:
		var batch pluginpb.PublishResultBatch
		if err := proto.Unmarshal(p, &batch); err != nil {
			return fmt.Errorf("%w: publish answers: %v", wire.ErrFrame, err)
		}
		d.mu.Lock()
		m := d.mux
		d.mu.Unlock()
		if m != nil {
			m.answer(&batch)
		}
	case wire.Deliver:
		batch, err := wire.DecodeDeliveryBatch(p)
		if err != nil {
			return fmt.Errorf("%w: deliveries: %v", wire.ErrFrame, err)
		}
		for _, dl := range batch {
			d.subsMu.Lock()
			ls, ok := d.subs[dl.Sub]
			d.subsMu.Unlock()
			switch {
			case ok && dl.Cancel:
				ls.s.cancelDelivery(ls.gen, dl.ID)
			case ok && dl.Msg != nil:
				ls.s.dispatchLink(d, dl.Sub, ls.gen, dl.ID, dl.Msg)
			case !ok && !dl.Cancel:
				// Its stream is gone, and with it the plugin's wait.
				d.answers.Add(&pluginpb.Answer{Sub: dl.Sub, Id: dl.ID, Reject: true, Error: errUnsubscribed.Error()})
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
	if err := d.w.Write(wire.Publish, m.(proto.Message)); err != nil {
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
	w          wire.Writer
	deliveries wire.Combiner[wire.Delivery]

	mu   sync.Mutex
	subs map[uint64]*serverSub
}

func newPluginData(c net.Conn) *pluginData {
	d := &pluginData{w: wire.Writer{Conn: c}, subs: make(map[uint64]*serverSub)}
	d.deliveries.Flush = func(ds []wire.Delivery) error {
		return d.w.WriteFunc(wire.Deliver, func(b []byte) ([]byte, error) {
			return wire.AppendDeliveryBatch(b, ds, d.refuse), nil
		})
	}
	return d
}

// refuse answers, in the host's stead, a delivery that cannot be sent to
// it: its handler rejects the message, which the broker then delivers
// again or dead-letters as it does a rejected one.
func (d *pluginData) refuse(dl wire.Delivery, err error) {
	d.mu.Lock()
	ss := d.subs[dl.Sub]
	d.mu.Unlock()
	if ss != nil {
		ss.answer(&pluginpb.SubscribeRequest{Id: dl.ID, Reject: true, Error: "plugin: the message cannot be sent to the host: " + err.Error()})
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
	_, err := c.Write([]byte{0, 0, 0, 2, wire.Hello, wire.Version})
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
		typ, p, err := wire.ReadFrame(r, &buf)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		switch typ {
		case wire.Answer:
			var batch pluginpb.AnswerBatch
			if err := proto.Unmarshal(p, &batch); err != nil {
				return fmt.Errorf("%w: answers: %v", wire.ErrFrame, err)
			}
			for _, a := range batch.Answers {
				d.mu.Lock()
				ss := d.subs[a.Sub]
				d.mu.Unlock()
				if ss != nil {
					ss.answer(&pluginpb.SubscribeRequest{Id: a.Id, Reject: a.Reject, Error: a.Error})
				}
			}
		case wire.Publish:
			calls, cancels, err := wire.DecodePublishBatch(p)
			if err != nil {
				return fmt.Errorf("%w: publishes: %v", wire.ErrFrame, err)
			}
			if ps == nil {
				inst := srv.impl.Load()
				if inst == nil || inst.broker == nil {
					// Only a configured broker is sent publishes;
					// answer each all the same.
					if err := d.w.Write(wire.Publish, notConfigured(calls)); err != nil {
						return err
					}
					continue
				}
				ps = newServerPublish(inst.broker, func(rb *pluginpb.PublishResultBatch) error {
					return d.w.Write(wire.Publish, rb)
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
func notConfigured(calls []*wire.Call) *pluginpb.PublishResultBatch {
	st := status.Convert(toStatus(errNotConfigured, brokerSentinels))
	rb := &pluginpb.PublishResultBatch{}
	for _, c := range calls {
		rb.Results = append(rb.Results, &pluginpb.PublishResult{Id: c.ID, Code: uint32(st.Code()), Error: st.Message()})
	}
	return rb
}
