package memory

// Option configures a Registry built by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	watchQueue int
}

// DefaultWatchQueue is the number of undelivered events a watcher may hold
// before it is ended with ErrWatcherOverflow.
const DefaultWatchQueue = 4096

// WithWatchQueue sets how many undelivered events each watcher may hold
// (default DefaultWatchQueue). A watcher that falls further behind is ended:
// its Next returns ErrWatcherOverflow, and the consumer is expected to Lookup
// again and start a new Watch. The registry itself never waits for a watcher.
// Values below 1 select the default.
func WithWatchQueue(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.watchQueue = n
		}
	})
}
