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
	DefaultURL             = redisconn.DefaultURL
	DefaultPrefix          = "micro:stream:"
	DefaultMaxLen          = 1_000_000
	DefaultPrefetch        = 64
	DefaultBlock           = 5 * time.Second
	DefaultMinIdle         = 30 * time.Second
	DefaultClaimInterval   = 5 * time.Second
	DefaultRedeliveryDelay = time.Second
	DefaultMaxDeliveries   = 5
	DefaultReapAfter       = time.Hour
	DefaultClientName      = "micro-broker-redis"
)

// Config holds the settings of a Broker. Zero fields take the defaults above;
// New validates the result and names the field at fault. It is what an
// out-of-process plugin decodes, strictly, from JSON: durations are strings
// such as "30s" or "1m30s".
type Config struct {
	// Connection holds the url setting, the Redis server:
	// redis://[user:password@]host:port/db, or rediss:// for TLS, with
	// the query parameters of go-redis's ParseURL (pool_size,
	// dial_timeout, read_timeout, client_name, skip_verify, ...).
	// Default DefaultURL.
	// Every subscription holds one connection of the pool for itself,
	// so the URL's pool_size must exceed the number of subscriptions.
	Connection

	// Prefix is put in front of a topic to make the key of its stream:
	// topic "orders" is the stream "micro:stream:orders". Default
	// DefaultPrefix.
	Prefix string `json:"prefix,omitempty"`
	// MaxLen caps every stream, approximately (XADD MAXLEN ~): once a
	// stream is longer, its oldest entries are deleted, whether or not every
	// consumer group has read and acknowledged them. It bounds the memory
	// Redis uses at the cost of losing the backlog of a consumer group that
	// falls that far behind. -1 means no cap. Default DefaultMaxLen.
	MaxLen int64 `json:"max_len,omitempty"`
	// Prefetch is how many entries a subscription reads (XREADGROUP COUNT)
	// or claims (XAUTOCLAIM COUNT) at once. Lower values share a queue
	// group's work more evenly. Default DefaultPrefetch.
	Prefetch int `json:"prefetch,omitempty"`
	// Block is the longest a subscription waits in one XREADGROUP BLOCK.
	// Default DefaultBlock.
	Block Duration `json:"block,omitempty"`
	// MinIdle is how long an entry read by a consumer must go unacknowledged
	// before another consumer of its group claims it (XAUTOCLAIM
	// min-idle-time): the time after which a consumer that stopped is
	// considered dead. A live subscription keeps the entries it holds from
	// being claimed, however long its handler runs, by touching them every
	// MinIdle/3. Default DefaultMinIdle.
	MinIdle Duration `json:"min_idle,omitempty"`
	// ClaimInterval is how often each subscription looks for entries of its
	// group that have been idle for MinIdle and claims them. Default
	// DefaultClaimInterval.
	ClaimInterval Duration `json:"claim_interval,omitempty"`
	// RedeliveryDelay is how long an entry rejected by a handler waits
	// before it is delivered again, to any member of the group. Default
	// DefaultRedeliveryDelay.
	RedeliveryDelay Duration `json:"redelivery_delay,omitempty"`
	// MaxDeliveries is how many times an entry is delivered to a group
	// before it is given up on and moved to the dead-letter stream
	// "<stream>:dead"; -1 means no limit. Default DefaultMaxDeliveries.
	MaxDeliveries int `json:"max_deliveries,omitempty"`
	// ReapAfter is how long the consumer group of a subscriber without queue
	// group must have been idle (its process died without unsubscribing)
	// before a Subscribe to the same topic deletes it; consumers of a queue
	// group that have been idle that long and hold no entries are deleted
	// likewise. Default DefaultReapAfter.
	ReapAfter Duration `json:"reap_after,omitempty"`
}

// withDefaults returns c with the zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Connection = c.Connection.WithDefaults()
	settings.SetDefault(&c.Prefix, DefaultPrefix)
	settings.SetDefault(&c.MaxLen, DefaultMaxLen)
	settings.SetDefault(&c.Prefetch, DefaultPrefetch)
	settings.SetDefault(&c.Block, Duration(DefaultBlock))
	settings.SetDefault(&c.MinIdle, Duration(DefaultMinIdle))
	settings.SetDefault(&c.ClaimInterval, Duration(DefaultClaimInterval))
	settings.SetDefault(&c.RedeliveryDelay, Duration(DefaultRedeliveryDelay))
	settings.SetDefault(&c.MaxDeliveries, DefaultMaxDeliveries)
	settings.SetDefault(&c.ReapAfter, Duration(DefaultReapAfter))
	return c
}

// validate reports the first invalid field of c, after defaults.
func (c Config) validate() error {
	if err := c.Connection.Validate("broker/redis"); err != nil {
		return err
	}
	if c.MaxLen < -1 {
		return badField("MaxLen", "%d; want a positive number, or -1 for no cap", c.MaxLen)
	}
	if c.Prefetch < 1 {
		return badField("Prefetch", "%d; want at least 1", c.Prefetch)
	}
	for _, d := range []struct {
		field string
		v     Duration
		least time.Duration
	}{
		{"Block", c.Block, time.Millisecond},
		{"MinIdle", c.MinIdle, 30 * time.Millisecond},
		{"ClaimInterval", c.ClaimInterval, time.Millisecond},
		{"RedeliveryDelay", c.RedeliveryDelay, 0},
		{"ReapAfter", c.ReapAfter, time.Millisecond},
	} {
		if time.Duration(d.v) < d.least {
			return badField(d.field, "%v; want at least %v", time.Duration(d.v), d.least)
		}
	}
	if c.ReapAfter <= c.MinIdle || c.ReapAfter <= c.Block {
		return badField("ReapAfter", "%v; want it longer than MinIdle (%v) and Block (%v)", c.ReapAfter, c.MinIdle, c.Block)
	}
	if c.MaxDeliveries < -1 {
		return badField("MaxDeliveries", "%d; want a positive number, or -1 for no limit", c.MaxDeliveries)
	}
	return nil
}

func badField(field, format string, args ...any) error {
	return redisconn.Invalid("broker/redis", field, format, args...)
}

// Connection is the connection part of a Config, the same in every Redis
// plugin: the url setting.
type Connection = redisconn.Settings

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration = settings.Duration

// Option configures a Broker beyond its Config: the things that cannot be
// written in JSON.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	client *goredis.Client
	logger *slog.Logger
}

// WithClient makes the broker use c instead of connecting to Config.URL;
// Close then leaves c open. Use it for settings a URL cannot carry, such as
// a TLS configuration with a private CA. Subscriptions take connections of
// c's pool for themselves: one each.
func WithClient(c *goredis.Client) Option {
	return optionFunc(func(o *options) { o.client = c })
}

// WithLogger sets the logger of the errors the broker meets in the
// background, such as a lost connection (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}
