package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/backoff"
)

// ErrRestarting is matched (errors.Is) by the error of a call that failed
// because the plugin process died or stopped answering: the call was in
// flight then, or came while the Client starts the plugin again. Its
// message says so: "plugin broker/rabbitmq crashed; restarting". Its gRPC
// code is Unavailable. Calls made once the plugin is back succeed.
var ErrRestarting = errors.New("plugin: crashed; restarting")

// crashError is the error of calls while a plugin restarts.
type crashError struct {
	name   string
	reason string // how the process ended, if known
	last   error  // the error of the last attempt to start it again
}

func (e *crashError) Error() string {
	s := "plugin " + e.name + " crashed; restarting"
	if e.reason != "" {
		s += " (" + e.reason + ")"
	}
	if e.last != nil {
		s += "; the last attempt to start it failed: " + e.last.Error()
	}
	return s
}

func (e *crashError) Is(target error) bool { return target == ErrRestarting }

func (e *crashError) Unwrap() error { return e.last }

func (e *crashError) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.Error()) }

// Restart back-off: the first restart comes after about minBackoff, each
// failed one doubles the wait up to maxBackoff. A process that ran for
// stableAfter before it died starts the back-off over.
const (
	minBackoff  = 50 * time.Millisecond
	maxBackoff  = 5 * time.Second
	stableAfter = 30 * time.Second
)

// restartPolicy doubles the wait from minBackoff up to maxBackoff and
// jitters it down by up to half, so that plugins that crashed together do
// not restart together.
var restartPolicy = backoff.Policy{Initial: minBackoff, Max: maxBackoff, Multiplier: 2, Jitter: 0.5}

type restartBackoff struct{ n int }

// next returns the next wait.
func (b *restartBackoff) next() time.Duration {
	b.n++
	return restartPolicy.Delay(b.n)
}

func (b *restartBackoff) reset() { b.n = 0 }

// crashGrace bounds how long a call that failed on the channel waits to
// learn whether the plugin process died: the channel usually breaks a
// moment before the host learns of the exit.
const crashGrace = 500 * time.Millisecond

// died reports whether err, the error of a call on cn, came from the plugin
// process dying. It waits for the exit up to crashGrace, or until ctx ends.
func (c *Client) died(ctx context.Context, cn *conn, err error) bool {
	if cn.kill == nil { // TestClient
		return false
	}
	if cn.exited.Err() != nil {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable:
	case codes.Canceled:
		// The connection closing under the call, as it does when the
		// process is gone, and not the call's ctx.
		if ctx.Err() != nil {
			return false
		}
	default:
		return false
	}
	t := time.NewTimer(crashGrace)
	defer t.Stop()
	select {
	case <-cn.exited.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// callErr turns err, the error of a call on cn, into the error the caller
// gets: the crash error when the process died, else the implementation's
// error (fromStatus).
func (c *Client) callErr(ctx context.Context, cn *conn, err error, sentinels []sentinel) error {
	if c.died(ctx, cn, err) {
		return &crashError{name: c.name, reason: cn.status()}
	}
	return fromStatus(ctx, err, sentinels, c.name)
}

// supervise starts the supervisor of a Client of Open: it watches the
// process of the moment, and when it dies, puts a placeholder in its place
// and starts it again with back-off until it is back or the Client closes.
// interval is the health check interval (<= 0: none).
func (c *Client) supervise(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.superviseLoop(ctx, interval)
	}()
	c.stopSupervisor = func() {
		cancel()
		<-done
	}
}

func (c *Client) superviseLoop(ctx context.Context, interval time.Duration) {
	var b restartBackoff
	for {
		cn := c.conn.Load()
		since := time.Now()
		reason := c.watch(ctx, cn, interval)
		if ctx.Err() != nil {
			return
		}
		if time.Since(since) >= stableAfter {
			b.reset()
		}
		crashed := time.Now()
		crash := &crashError{name: c.name, reason: reason}
		c.setConn(downConn(crash))
		c.log.Error("plugin crashed; restarting", "pid", cn.pid, "reason", reason)
		cn.stop() // releases the connection; the process is gone

		for attempt := 1; ; attempt++ {
			wait := b.next()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			next, err := c.launch(ctx)
			if ctx.Err() != nil {
				if err == nil {
					next.stop()
				}
				return
			}
			if err != nil {
				c.setConn(downConn(&crashError{name: c.name, reason: reason, last: err}))
				c.log.Error("plugin restart failed", "attempt", attempt, "error", err)
				continue
			}
			c.setConn(next)
			c.log.Info("plugin restarted", "pid", next.pid, "attempt", attempt, "down_for", time.Since(crashed).Round(time.Millisecond))
			break
		}
	}
}

// watch returns when the process of cn exits, or after it failed
// healthFailures health checks in a row (it is then killed), with the
// reason; or when ctx ends, with "".
func (c *Client) watch(ctx context.Context, cn *conn, interval time.Duration) string {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	health := grpc_health_v1.NewHealthClient(cn.cc)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-cn.exited.Done():
			if s := cn.status(); s != "" {
				return "exited: " + s
			}
			return "exited"
		case <-tick:
		}
		hctx, cancel := context.WithTimeout(ctx, interval)
		resp, err := health.Check(hctx, &grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
		cancel()
		if err == nil && resp.Status != grpc_health_v1.HealthCheckResponse_SERVING {
			err = fmt.Errorf("status %v", resp.Status)
		}
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil || cn.exited.Err() != nil {
			continue
		}
		failures++
		c.log.Warn("plugin health check failed", "pid", cn.pid, "failures", failures, "error", err)
		if failures < healthFailures {
			continue
		}
		cn.kill()
		select {
		case <-cn.exited.Done():
		case <-ctx.Done():
			return ""
		}
		return fmt.Sprintf("unresponsive: killed after %d failed health checks", failures)
	}
}
