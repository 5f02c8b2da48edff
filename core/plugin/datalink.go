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
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
)

// The data link. On Unix the host link (hostlink.go) is one end of a
// socket pair that the plugin inherits: no other process can reach it, so
// it needs neither TLS nor HTTP/2. Once the plugin has read its TLS
// material, both sides use it for the hot path of a broker, Publish: the
// host writes batches of calls and the plugin answers them, as on a
// PublishMux gRPC stream, with the same messages, framed as
//
//	length  uint32, big endian: the bytes that follow (type and payload)
//	type    byte
//	payload the protocol buffer of the type
//
// The plugin first sends a linkHello frame; a host that does not read one
// (a plugin built before the data link, whose descriptor 3 may be a pipe)
// publishes over gRPC. Everything else (configuration, subscriptions,
// registry and store calls) stays on gRPC.
const (
	// linkHello (plugin to host, first frame): the plugin serves the data
	// link. Payload: the version, one byte, linkVersion.
	linkHello byte = 1
	// linkPublish: host to plugin a PublishBatch, plugin to host a
	// PublishResultBatch.
	linkPublish byte = 2

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

// appendLinkFrame appends a frame of typ holding m to buf.
func appendLinkFrame(buf []byte, typ byte, m proto.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, typ)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
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

// hostData is the host's side of a plugin's data link.
type hostData struct {
	c  net.Conn
	r  *bufio.Reader
	mu sync.Mutex // writes
	wb []byte

	taken atomic.Bool
}

// readHello reads the plugin's hello within linkHelloWait. It returns nil
// when the plugin sent none: it publishes over gRPC.
func readHello(c net.Conn, log *slog.Logger) *hostData {
	d := &hostData{c: c, r: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(linkHelloWait))
	var buf []byte
	typ, p, err := readLinkFrame(d.r, &buf)
	c.SetReadDeadline(time.Time{})
	switch {
	case err != nil:
		log.Debug("the plugin has no data link; publishing over gRPC", "error", err)
		return nil
	case typ != linkHello || len(p) != 1:
		log.Warn("the plugin's data link starts with a frame that is not a hello; publishing over gRPC", "type", typ)
		return nil
	case p[0] != linkVersion:
		log.Warn("the plugin's data link has another version; publishing over gRPC", "version", p[0], "want", linkVersion)
		return nil
	}
	return d
}

// take returns the link for one publish mux, the first time only: the
// link cannot be opened again, so a mux after a failed one uses gRPC.
func (d *hostData) take() bool {
	return d != nil && d.taken.CompareAndSwap(false, true)
}

// SendMsg sends a *pluginpb.PublishBatchEncoded as a publish frame.
func (d *hostData) SendMsg(m any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	d.wb, err = appendLinkFrame(d.wb[:0], linkPublish, m.(proto.Message))
	if err != nil {
		return err
	}
	_, err = d.c.Write(d.wb)
	if cap(d.wb) > 1<<20 {
		d.wb = nil
	}
	return err
}

// RecvMsg receives the next publish frame into a *pluginpb.PublishResultBatch.
// One goroutine calls it.
func (d *hostData) RecvMsg(m any) error {
	var buf []byte
	for {
		typ, p, err := readLinkFrame(d.r, &buf)
		if err != nil {
			return err
		}
		if typ != linkPublish {
			continue // a frame of a later version
		}
		return proto.Unmarshal(p, m.(proto.Message))
	}
}

// sendHello tells the host that the plugin serves the data link. Serve
// sends it before it answers the handshake.
func sendHello(c net.Conn) error {
	_, err := c.Write([]byte{0, 0, 0, 2, linkHello, linkVersion})
	return err
}

// serveData serves the plugin's side of the data link until it ends: the
// host is gone, or broke the format.
func serveData(c net.Conn, r *bufio.Reader, srv *server) error {
	var (
		mu sync.Mutex
		wb []byte
	)
	write := func(typ byte, m proto.Message) error {
		mu.Lock()
		defer mu.Unlock()
		var err error
		if wb, err = appendLinkFrame(wb[:0], typ, m); err != nil {
			return err
		}
		_, err = c.Write(wb)
		if cap(wb) > 1<<20 {
			wb = nil
		}
		return err
	}
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
		if typ != linkPublish {
			return fmt.Errorf("%w: type %d", errLinkFrame, typ)
		}
		batch := new(pluginpb.PublishBatch)
		if err := proto.Unmarshal(p, batch); err != nil {
			return fmt.Errorf("%w: %v", errLinkFrame, err)
		}
		if ps == nil {
			inst := srv.impl.Load()
			if inst == nil || inst.broker == nil {
				// Only a configured broker is sent publishes; answer
				// each all the same.
				if err := write(linkPublish, notConfigured(batch)); err != nil {
					return err
				}
				continue
			}
			ps = newServerPublish(inst.broker, func(rb *pluginpb.PublishResultBatch) error {
				return write(linkPublish, rb)
			})
		}
		if err := ps.handle(ctx, batch); err != nil {
			return err
		}
	}
}

// notConfigured answers every call of batch with errNotConfigured.
func notConfigured(batch *pluginpb.PublishBatch) *pluginpb.PublishResultBatch {
	st := status.Convert(toStatus(errNotConfigured, brokerSentinels))
	rb := &pluginpb.PublishResultBatch{}
	for _, c := range batch.Calls {
		rb.Results = append(rb.Results, &pluginpb.PublishResult{Id: c.Id, Code: uint32(st.Code()), Error: st.Message()})
	}
	return rb
}
