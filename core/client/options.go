package client

import (
	"time"

	"github.com/seedmicro/micro/core/broker"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/selector"
	"github.com/seedmicro/micro/core/transport"
)

// Option configures a Client. Options are created with the WithX functions.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	registry    registry.Registry
	selector    selector.Selector
	transport   transport.Transport
	broker      broker.Broker
	retries     int
	backoff     func(attempt int) time.Duration
	budgetRatio float64
	budgetMin   float64
	retryOn     map[merrors.Code]bool
	middleware  []Middleware
	timeout     time.Duration
	poolSize    int
	maxFrame    int
}

// WithRegistry sets the registry that services are looked up in; the client
// builds a round-robin selector with a watched cache on it.
func WithRegistry(r registry.Registry) Option { return optionFunc(func(o *options) { o.registry = r }) }

// WithSelector sets the selector directly (it takes precedence over
// WithRegistry). The client does not close it.
func WithSelector(s selector.Selector) Option { return optionFunc(func(o *options) { o.selector = s }) }

// WithTransport sets the transport (default TCP).
func WithTransport(t transport.Transport) Option {
	return optionFunc(func(o *options) { o.transport = t })
}

// WithBroker sets the broker that Publish sends to.
func WithBroker(b broker.Broker) Option { return optionFunc(func(o *options) { o.broker = b }) }

// WithRetries sets how many times a failed call is tried again, each time on
// another node when there is one (default 3).
func WithRetries(n int) Option { return optionFunc(func(o *options) { o.retries = max(n, 0) }) }

// WithBackoff sets the pause before retry number attempt (1, 2, ...). The
// default is exponential from 2ms, capped at 500ms, with jitter.
func WithBackoff(f func(attempt int) time.Duration) Option {
	return optionFunc(func(o *options) { o.backoff = f })
}

// WithRetryBudget bounds retries: each call earns ratio of a retry token, a
// retry spends one, and minPerSecond tokens are granted each second whatever
// the traffic. Default 0.2 and 10: retries add at most about 20% load once
// the reserve is spent, so a failing dependency is not hammered.
func WithRetryBudget(ratio, minPerSecond float64) Option {
	return optionFunc(func(o *options) { o.budgetRatio, o.budgetMin = ratio, minPerSecond })
}

// WithRetryOn marks error codes returned by handlers as retryable. By default
// no handler error is retried: only failures of the connection, and
// requests a server refused before running them (while it shut down).
func WithRetryOn(codes ...merrors.Code) Option {
	return optionFunc(func(o *options) {
		if o.retryOn == nil {
			o.retryOn = map[merrors.Code]bool{}
		}
		for _, c := range codes {
			o.retryOn[c] = true
		}
	})
}

// WithMiddleware adds call middleware; the first one given is the outermost.
func WithMiddleware(mw ...Middleware) Option {
	return optionFunc(func(o *options) { o.middleware = append(o.middleware, mw...) })
}

// WithTimeout sets the deadline applied to calls whose context has none
// (default 10s; 0 means none).
func WithTimeout(d time.Duration) Option { return optionFunc(func(o *options) { o.timeout = d }) }

// WithPoolSize sets the number of multiplexed connections per node
// (default 2).
func WithPoolSize(n int) Option { return optionFunc(func(o *options) { o.poolSize = n }) }

// WithMaxFrameSize sets the largest request or response, in bytes
// (default 4 MiB).
func WithMaxFrameSize(n int) Option { return optionFunc(func(o *options) { o.maxFrame = n }) }

// CallOption configures one Call.
type CallOption interface{ applyCall(*callOptions) }

type callOptionFunc func(*callOptions)

func (f callOptionFunc) applyCall(o *callOptions) { f(o) }

type callOptions struct {
	address string
	retries int
	timeout time.Duration
}

// WithAddress sends the call to addr, bypassing the selector.
func WithAddress(addr string) CallOption {
	return callOptionFunc(func(o *callOptions) { o.address = addr })
}

// WithCallRetries overrides the retry count for one call.
func WithCallRetries(n int) CallOption {
	return callOptionFunc(func(o *callOptions) { o.retries = max(n, 0) })
}

// WithCallTimeout sets a deadline for one call (the earlier of it and the
// context's applies).
func WithCallTimeout(d time.Duration) CallOption {
	return callOptionFunc(func(o *callOptions) { o.timeout = d })
}
