package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Timeouts bound the network waits of micro-new, so that a server that
// accepts a connection and never answers cannot hang it.
type Timeouts struct {
	// Connect bounds the TCP connection and the TLS handshake.
	Connect time.Duration
	// Header bounds the wait for a response's headers once the request is sent.
	Header time.Duration
	// Idle bounds the wait for the next bytes of a response body: a download
	// that stalls for this long fails. Idle pooled connections are closed
	// after it too.
	Idle time.Duration
	// Total bounds the whole fetch of a document that is read at once (a
	// catalog).
	Total time.Duration
}

// DefaultTimeouts are the timeouts of micro-new: 15s for each wait, 30s for
// a whole catalog.
func DefaultTimeouts() Timeouts {
	return Timeouts{Connect: 15 * time.Second, Header: 15 * time.Second, Idle: 15 * time.Second, Total: 30 * time.Second}
}

// TimeoutsFrom returns the timeouts with each wait set to d and the total to
// twice d (what MICRO_HTTP_TIMEOUT sets); d <= 0 gives DefaultTimeouts.
func TimeoutsFrom(d time.Duration) Timeouts {
	if d <= 0 {
		return DefaultTimeouts()
	}
	return Timeouts{Connect: d, Header: d, Idle: d, Total: 2 * d}
}

// NewHTTPClient returns a client whose transport applies t's connect, header
// and idle timeouts, and takes proxies from the environment.
func NewHTTPClient(t Timeouts) *http.Client {
	d := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.Header,
		IdleConnTimeout:       t.Idle,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
	}}
}

// ExplainNetError rewrites the error of a GET of url into one that names the
// URL and the wait that ran out, with what to do.
func ExplainNetError(url string, err error, t Timeouts) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &TimeoutError{URL: url, Err: err, Limit: t}
	}
	return err
}

// TimeoutError says that a server was too slow: it did not connect, answer
// or send its body in time.
type TimeoutError struct {
	URL   string
	Err   error
	Limit Timeouts
	Stall bool // the body stopped arriving
}

func (e *TimeoutError) Error() string {
	what := fmt.Sprintf("no answer from %s within the time allowed (%v to connect, %v for the response headers, %v in total for a catalog)", e.URL, e.Limit.Connect, e.Limit.Header, e.Limit.Total)
	if e.Stall {
		what = fmt.Sprintf("the download of %s stalled: no data for %v", e.URL, e.Limit.Idle)
	}
	return what + ": check the URL and that the server is up; on a slow link set MICRO_HTTP_TIMEOUT (e.g. 60s)"
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// stallReader fails a read that waits longer than idle for data, by
// cancelling the request's context.
type stallReader struct {
	r       io.Reader
	idle    time.Duration
	cancel  context.CancelFunc
	mu      sync.Mutex
	timer   *time.Timer
	stalled bool
}

func newStallReader(r io.Reader, idle time.Duration, cancel context.CancelFunc) *stallReader {
	s := &stallReader{r: r, idle: idle, cancel: cancel}
	s.timer = time.AfterFunc(idle, s.fire)
	return s
}

func (s *stallReader) fire() {
	s.mu.Lock()
	s.stalled = true
	s.mu.Unlock()
	s.cancel()
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.idle)
	}
	if err != nil {
		s.mu.Lock()
		stalled := s.stalled
		s.mu.Unlock()
		if stalled && err != io.EOF {
			return n, errStalled
		}
	}
	return n, err
}

func (s *stallReader) stop() { s.timer.Stop() }

var errStalled = errors.New("stalled")
