package transport

import (
	"context"
	"sync"
	"sync/atomic"
)

// Pool keeps multiplexed connections per address. Each address gets up to
// size connections, used in turn; a failed connection is replaced on the
// next request.
type Pool struct {
	tr     Transport
	size   int
	max    int
	window int
	mu     sync.Mutex
	addrs  map[string]*addrConns
	closed bool
}

type addrConns struct {
	next  atomic.Uint32
	mu    sync.Mutex
	conns []*Conn
}

// PoolOption configures a Pool.
type PoolOption func(*Pool)

// WithPoolSize sets the number of connections per address (default 2).
func WithPoolSize(n int) PoolOption {
	return func(p *Pool) {
		if n > 0 {
			p.size = n
		}
	}
}

// WithMaxFrameSize sets the largest frame accepted or sent.
func WithMaxFrameSize(n int) PoolOption {
	return func(p *Pool) { p.max = n }
}

// WithStreamWindow sets the receive window of each stream on the pool's
// connections (default DefaultStreamWindow, at least InitialStreamWindow).
func WithStreamWindow(n int) PoolOption {
	return func(p *Pool) { p.window = n }
}

// NewPool returns a pool that dials with tr.
func NewPool(tr Transport, opts ...PoolOption) *Pool {
	p := &Pool{tr: tr, size: 2, max: DefaultMaxFrameSize, addrs: make(map[string]*addrConns)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Get returns a live connection to addr, dialing one if needed.
func (p *Pool) Get(ctx context.Context, addr string) (*Conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, &Error{Op: "dial", Addr: addr, Err: ErrConnClosed}
	}
	ac := p.addrs[addr]
	if ac == nil {
		ac = &addrConns{conns: make([]*Conn, p.size)}
		p.addrs[addr] = ac
	}
	p.mu.Unlock()

	i := int(ac.next.Add(1)) % p.size
	ac.mu.Lock()
	c := ac.conns[i]
	if c != nil && c.Err() == nil {
		ac.mu.Unlock()
		return c, nil
	}
	// Dial while holding the slot's lock so concurrent callers share the
	// new connection instead of each dialing their own.
	defer ac.mu.Unlock()
	nc, err := p.tr.Dial(ctx, addr)
	if err != nil {
		return nil, &Error{Op: "dial", Addr: addr, Err: err}
	}
	c = newConn(nc, p.max, p.window)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return nil, &Error{Op: "dial", Addr: addr, Err: ErrConnClosed}
	}
	p.mu.Unlock()
	ac.conns[i] = c
	return c, nil
}

// Drop closes the connections to addr, e.g. after the node left.
func (p *Pool) Drop(addr string) {
	p.mu.Lock()
	ac := p.addrs[addr]
	delete(p.addrs, addr)
	p.mu.Unlock()
	if ac != nil {
		ac.closeAll()
	}
}

func (ac *addrConns) closeAll() {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for _, c := range ac.conns {
		if c != nil {
			c.Close()
		}
	}
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	addrs := p.addrs
	p.addrs = map[string]*addrConns{}
	p.mu.Unlock()
	for _, ac := range addrs {
		ac.closeAll()
	}
	return nil
}
