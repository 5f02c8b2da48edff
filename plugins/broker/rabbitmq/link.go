package rabbitmq

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/backoff"
	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/redact"
)

// closeTimeout bounds the closing handshake of a connection on Close.
const closeTimeout = 5 * time.Second

// link is one AMQP connection of a Broker that is re-established, with
// jittered back-off, whenever it is lost, until the broker is closed. The
// broker has two: one for publishing and one for consuming, so that the
// server's flow control of publishers never holds up acknowledgements.
type link struct {
	b    *Broker
	role string // "publisher" or "consumer"

	startMu sync.Mutex // serializes start
	started bool

	mu      sync.Mutex
	conn    *amqp.Connection // nil while down
	changed chan struct{}    // closed and replaced when conn changes
}

func newLink(b *Broker, role string) *link {
	return &link{b: b, role: role, changed: make(chan struct{})}
}

// start makes the first connection, within ctx, and from then on keeps the
// link up in the background. It does nothing once the link is started.
func (l *link) start(ctx context.Context) error {
	l.startMu.Lock()
	defer l.startMu.Unlock()
	if l.started {
		return nil
	}
	conn, err := l.dial(ctx)
	if err != nil {
		return err
	}
	if !l.b.subs.Track(&l.b.linkWG) {
		conn.Close()
		return broker.ErrClosed
	}
	l.started = true
	l.set(conn)
	go l.supervise(conn)
	return nil
}

// set records conn (nil: down) and wakes up the waiters of get.
func (l *link) set(conn *amqp.Connection) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = conn
	close(l.changed)
	l.changed = make(chan struct{})
}

// get returns the connection once it is up, waiting until ctx is done or
// the broker is closed.
func (l *link) get(ctx context.Context) (*amqp.Connection, error) {
	for {
		l.mu.Lock()
		conn, changed := l.conn, l.changed
		l.mu.Unlock()
		if conn != nil && !conn.IsClosed() {
			return conn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("broker/rabbitmq: waiting for the %s connection: %w", l.role, context.Cause(ctx))
		case <-l.b.done:
			return nil, broker.ErrClosed
		}
	}
}

// supervise watches conn and reconnects whenever it is lost, until the
// broker stops its links.
func (l *link) supervise(conn *amqp.Connection) {
	defer l.b.linkWG.Done()
	stop := l.b.linkCtx.Done()
	for {
		lost := conn.NotifyClose(make(chan *amqp.Error, 1))
		select {
		case err := <-lost:
			l.set(nil)
			l.b.log.Warn("broker/rabbitmq: connection lost", "connection", l.role, "err", err)
		case <-stop:
			l.set(nil)
			conn.CloseDeadline(time.Now().Add(closeTimeout))
			return
		}
		if conn = l.redial(); conn == nil {
			return
		}
		l.set(conn)
		l.b.log.Info("broker/rabbitmq: reconnected", "connection", l.role)
	}
}

// redial connects again with jittered exponential back-off. It returns nil
// when the broker stops its links first.
func (l *link) redial() *amqp.Connection {
	bo := l.b.retryWaits()
	for {
		select {
		case <-time.After(bo.next()):
		case <-l.b.linkCtx.Done():
			return nil
		}
		conn, err := l.dial(l.b.linkCtx)
		if err == nil {
			return conn
		}
		if l.b.linkCtx.Err() != nil {
			return nil
		}
		l.b.log.Warn("broker/rabbitmq: reconnecting failed", "connection", l.role, "err", err)
	}
}

// dial opens a connection; ctx bounds connecting, and DialTimeout the
// handshake as well.
func (l *link) dial(ctx context.Context) (*amqp.Connection, error) {
	cfg := &l.b.cfg
	timeout := time.Duration(cfg.DialTimeout)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(cfg.ConnectionName + " " + l.role)
	conn, err := amqp.DialConfig(cfg.URL, amqp.Config{
		Heartbeat:  time.Duration(cfg.Heartbeat),
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Heartbeats start after the handshake; until then a deadline
			// guards against a server that does not answer. The library
			// clears it once the connection is open.
			if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("broker/rabbitmq: connect (%s) to %s: %w", l.role, redact.URL(cfg.URL), redact.Error(err, cfg.URL))
	}
	return conn, nil
}

// retryWaits is a jittered exponential back-off: the step starts at
// ReconnectMin and doubles up to ReconnectMax, and each wait is drawn
// between half the current step and the step.
type retryWaits struct {
	policy backoff.Policy
	n      int
}

func (b *Broker) retryWaits() *retryWaits {
	return &retryWaits{policy: backoff.Policy{
		Initial:    time.Duration(b.cfg.ReconnectMin),
		Max:        time.Duration(b.cfg.ReconnectMax),
		Multiplier: 2,
		Jitter:     0.5,
	}}
}

// next returns the next wait.
func (bo *retryWaits) next() time.Duration {
	bo.n++
	return bo.policy.Delay(bo.n)
}
