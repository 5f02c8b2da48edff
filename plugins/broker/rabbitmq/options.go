package rabbitmq

import "log/slog"

// Option configures a Broker beyond its Config: what only a Go program can
// give.
type Option interface {
	apply(*options)
}

type options struct {
	logger *slog.Logger
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger for what no caller sees: a connection lost and
// re-established, a subscription restored, a message dead-lettered (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}
