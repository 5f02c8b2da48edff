package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// Options are the settings of a Redis plugin that a Config cannot hold: Go
// values. The zero Options take a client of their own and slog.Default().
type Options struct {
	Client *goredis.Client
	Logger *slog.Logger
}

// Option sets Options; a plugin's Option is this type, and its WithX
// functions return the ones below.
type Option func(*Options)

// WithClient makes the plugin use c instead of connecting to Config.URL;
// Close then leaves c open.
func WithClient(c *goredis.Client) Option { return func(o *Options) { o.Client = c } }

// WithLogger sets the logger of the errors the plugin meets in the
// background.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// Conn is the client of a Redis plugin's component: the one given with
// WithClient, or one of its own, which Close closes.
type Conn struct {
	Client *goredis.Client
	// Log is the logger of opts, or slog.Default(), with the attribute
	// plugin=component.
	Log *slog.Logger

	component string
	owned     bool
	closeOnce sync.Once
	closeErr  error
}

// Dial applies opts and returns the Conn of component (such as
// "store/redis", which starts its errors) for s, its client named name
// unless the URL names it; it fails, as Settings.Open does, when the
// server does not answer a PING within ctx.
func Dial(ctx context.Context, component, name string, s Settings, opts []Option) (*Conn, error) {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Conn{component: component, Log: o.Logger.With("plugin", component)}
	var err error
	if c.Client, c.owned, err = s.Open(ctx, component, name, o.Client); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the client, unless it came from WithClient. Later calls
// return what the first returned.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.owned {
			if err := c.Client.Close(); err != nil {
				c.closeErr = fmt.Errorf("%s: close: %w", c.component, err)
			}
		}
	})
	return c.closeErr
}

// Invalid is the error of a Config field of component that is not valid,
// what is wrong said by format and args as fmt.Errorf says it (%w wraps).
func Invalid(component, field, format string, args ...any) error {
	return fmt.Errorf("%s: invalid Config.%s: "+format, append([]any{component, field}, args...)...)
}
