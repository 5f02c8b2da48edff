package redis

import (
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/plugins/internal/redisconn"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL            = redisconn.DefaultURL
	DefaultPrefix         = "micro:registry:"
	DefaultSweepInterval  = time.Second
	DefaultResyncInterval = time.Minute
	DefaultClientName     = "micro-registry-redis"
)

// Config holds the settings of a Registry. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON: durations are
// strings such as "1s".
type Config struct {
	// Connection holds the url setting, the Redis server:
	// redis://[user:password@]host:port/db, or rediss:// for TLS, with
	// the query parameters of go-redis's ParseURL (pool_size,
	// dial_timeout, read_timeout, client_name, skip_verify, ...).
	// Default DefaultURL.
	// Every watcher holds a connection of its own for its pub/sub
	// subscription.
	Connection

	// Prefix starts every key and the channel of the registry. Registries
	// with the same server, database and prefix share their services.
	// Default DefaultPrefix.
	Prefix string `json:"prefix,omitempty"`
	// SweepInterval is how often a watcher looks for nodes whose TTL has
	// passed, removes them from the index and announces their removal: it
	// bounds how late a watcher learns of an expiry. Default
	// DefaultSweepInterval.
	SweepInterval Duration `json:"sweep_interval,omitempty"`
	// ResyncInterval is how often a watcher compares what it reported with
	// a full scan of the registry, in case it missed an announcement (its
	// connection was cut). Default DefaultResyncInterval.
	ResyncInterval Duration `json:"resync_interval,omitempty"`
}

func (c Config) withDefaults() Config {
	c.Connection = c.Connection.WithDefaults()
	settings.SetDefault(&c.Prefix, DefaultPrefix)
	settings.SetDefault(&c.SweepInterval, Duration(DefaultSweepInterval))
	settings.SetDefault(&c.ResyncInterval, Duration(DefaultResyncInterval))
	return c
}

func (c Config) validate() error {
	if err := c.Connection.Validate("registry/redis"); err != nil {
		return err
	}
	if c.SweepInterval < Duration(time.Millisecond) {
		return badField("SweepInterval", "%v; want at least 1ms", c.SweepInterval)
	}
	if c.ResyncInterval < c.SweepInterval {
		return badField("ResyncInterval", "%v; want at least SweepInterval (%v)", c.ResyncInterval, c.SweepInterval)
	}
	return nil
}

func badField(field, format string, args ...any) error {
	return redisconn.Invalid("registry/redis", field, format, args...)
}

// Connection is the connection part of a Config, the same in every Redis
// plugin: the url setting.
type Connection = redisconn.Settings

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration = settings.Duration

// Option configures a Registry beyond its Config.
type Option = redisconn.Option

// WithClient makes the registry use c instead of connecting to Config.URL;
// Close then leaves c open.
func WithClient(c *goredis.Client) Option { return redisconn.WithClient(c) }

// WithLogger sets the logger of the errors watchers meet in the background
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return redisconn.WithLogger(l) }
