package cache

import "time"

// Option configures a Cache built by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	ttl           time.Duration
	backoffMin    time.Duration
	backoffMax    time.Duration
	lookupTimeout time.Duration
}

// Defaults.
const (
	// DefaultTTL is how long a cached service is trusted without a fresh
	// Lookup, even if the watch reports nothing.
	DefaultTTL = time.Minute
	// DefaultBackoffMin and DefaultBackoffMax bound the wait between
	// attempts to re-establish a failed watch.
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
	// DefaultLookupTimeout bounds one Lookup on the underlying registry.
	DefaultLookupTimeout = 30 * time.Second
)

// WithTTL sets how long a cached service is served before it is looked up
// again (default DefaultTTL). The watch keeps entries fresh; the TTL is a
// safety net for events a registry failed to deliver. Values below 1ms
// select the default.
func WithTTL(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d >= time.Millisecond {
			o.ttl = d
		}
	})
}

// WithBackoff sets the first and the longest wait between attempts to
// re-establish a failed watch (defaults DefaultBackoffMin and
// DefaultBackoffMax); the wait doubles after each failure, with jitter.
// Non-positive values select the defaults.
func WithBackoff(initial, maximum time.Duration) Option {
	return optionFunc(func(o *options) {
		if initial > 0 {
			o.backoffMin = initial
		}
		if maximum > 0 {
			o.backoffMax = maximum
		}
	})
}

// WithLookupTimeout bounds each Lookup the cache makes on the underlying
// registry (default DefaultLookupTimeout). A caller gives up sooner if its
// own context ends; the Lookup then goes on for the callers still waiting.
// Values below 1ms select the default.
func WithLookupTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d >= time.Millisecond {
			o.lookupTimeout = d
		}
	})
}
