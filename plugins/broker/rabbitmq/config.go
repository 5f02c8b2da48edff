package rabbitmq

import (
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/redact"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL            = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultConnectionName = "micro-broker"
	DefaultExchange       = "micro"
	DefaultPrefetch       = 64
	DefaultMaxDeliveries  = 5
	DefaultHeartbeat      = 10 * time.Second
	DefaultDialTimeout    = 30 * time.Second
	DefaultReconnectMin   = 100 * time.Millisecond
	DefaultReconnectMax   = 10 * time.Second
)

// maxPrefetch is the largest prefetch count AMQP carries (a short).
const maxPrefetch = 65535

// NoLimit is the value of Config.MaxDeliveries that turns dead-lettering
// off: a rejected message is redelivered until a handler acknowledges it.
const NoLimit = -1

// Config holds the settings of a Broker. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON: durations are
// strings such as "10s" or "1m30s".
type Config struct {
	// URL is the server: amqp://user:password@host:port/vhost, or amqps://
	// for TLS. A user name or password with reserved characters must be
	// percent-encoded. TLS files can be given as query parameters
	// (cacertfile, certfile, keyfile, server_name_indication), as
	// github.com/rabbitmq/amqp091-go reads them. Default DefaultURL.
	URL string `json:"url,omitempty"`
	// ConnectionName is shown by the management UI and rabbitmqctl for the
	// broker's connections, followed by " publisher" or " consumer".
	// Default DefaultConnectionName.
	ConnectionName string `json:"connection_name,omitempty"`
	// Exchange is the topic exchange messages are published to, with the
	// topic as routing key. The broker declares it (durable) together with
	// the dead-letter exchange "<Exchange>.dlx" and queue "<Exchange>.dlq".
	// It must not start with "amq.". Default DefaultExchange.
	Exchange string `json:"exchange,omitempty"`
	// Prefetch is how many messages each subscription may hold
	// unacknowledged: the ones being handled and the ones delivered ahead of
	// the handler. 1 to 65535. Lower values share a queue group's work more
	// evenly. A subscription with broker.Concurrency(n) holds at least n.
	// Default DefaultPrefetch.
	Prefetch int `json:"prefetch,omitempty"`
	// MaxDeliveries is how many times a message is delivered to a
	// subscription (or a queue group) before it is given up on and
	// dead-lettered to "<Exchange>.dlx"; NoLimit (-1) redelivers for ever.
	// Default DefaultMaxDeliveries. For a queue group the limit is an
	// argument of its queue: RabbitMQ refuses to declare an existing queue
	// with another limit (see README.md).
	MaxDeliveries int `json:"max_deliveries,omitempty"`
	// Heartbeat is the AMQP heartbeat interval proposed to the server: a
	// silent connection is considered dead after about three intervals.
	// A heartbeat parameter in URL overrides it. Default DefaultHeartbeat.
	Heartbeat Duration `json:"heartbeat,omitempty"`
	// DialTimeout bounds connecting and the AMQP handshake. Default
	// DefaultDialTimeout.
	DialTimeout Duration `json:"dial_timeout,omitempty"`
	// ReconnectMin and ReconnectMax bound the jittered exponential back-off
	// between attempts to reconnect after the connection is lost: the first
	// wait is between ReconnectMin/2 and ReconnectMin, every further one
	// doubles up to ReconnectMax. The broker reconnects for ever, until it
	// is closed. Defaults DefaultReconnectMin and DefaultReconnectMax.
	ReconnectMin Duration `json:"reconnect_min,omitempty"`
	ReconnectMax Duration `json:"reconnect_max,omitempty"`
}

// withDefaults returns c with the zero fields set to their defaults.
func (c Config) withDefaults() Config {
	settings.SetDefault(&c.URL, DefaultURL)
	settings.SetDefault(&c.ConnectionName, DefaultConnectionName)
	settings.SetDefault(&c.Exchange, DefaultExchange)
	settings.SetDefault(&c.Prefetch, DefaultPrefetch)
	settings.SetDefault(&c.MaxDeliveries, DefaultMaxDeliveries)
	settings.SetDefault(&c.Heartbeat, Duration(DefaultHeartbeat))
	settings.SetDefault(&c.DialTimeout, Duration(DefaultDialTimeout))
	settings.SetDefault(&c.ReconnectMin, Duration(DefaultReconnectMin))
	settings.SetDefault(&c.ReconnectMax, Duration(max(DefaultReconnectMax, time.Duration(c.ReconnectMin))))
	return c
}

// validate reports the first invalid field of c, after defaults.
func (c Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("broker/rabbitmq: invalid Config.%s: %s", field, fmt.Sprintf(format, args...))
	}
	if _, err := amqp.ParseURI(c.URL); err != nil {
		return bad("URL", "%q: %v", redact.URL(c.URL), redact.Error(err, c.URL))
	}
	switch {
	case strings.HasPrefix(c.Exchange, "amq."):
		return bad("Exchange", "%q; names starting with \"amq.\" are reserved by RabbitMQ", c.Exchange)
	case len(c.Exchange)+len(".dlx") > 255:
		return bad("Exchange", "%d bytes long; want at most 251", len(c.Exchange))
	}
	if c.Prefetch < 1 || c.Prefetch > maxPrefetch {
		return bad("Prefetch", "%d; want 1 to 65535", c.Prefetch)
	}
	if c.MaxDeliveries < NoLimit {
		return bad("MaxDeliveries", "%d; want a positive number, or -1 for no limit", c.MaxDeliveries)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"Heartbeat", c.Heartbeat}, {"DialTimeout", c.DialTimeout},
		{"ReconnectMin", c.ReconnectMin}, {"ReconnectMax", c.ReconnectMax},
	} {
		if d.v < 0 {
			return bad(d.field, "negative duration %v", d.v)
		}
	}
	if c.Heartbeat > 0 && c.Heartbeat < Duration(time.Second) {
		return bad("Heartbeat", "%v; AMQP counts heartbeats in whole seconds", c.Heartbeat)
	}
	if c.ReconnectMax < c.ReconnectMin {
		return bad("ReconnectMax", "%v is shorter than ReconnectMin %v", c.ReconnectMax, c.ReconnectMin)
	}
	return nil
}

// deadLettering reports whether rejected messages are given up on.
func (c *Config) deadLettering() bool { return c.MaxDeliveries > 0 }

// deadLetterExchange returns the name of the dead-letter exchange.
func (c *Config) deadLetterExchange() string { return c.Exchange + ".dlx" }

// deadLetterQueue returns the name of the dead-letter queue.
func (c *Config) deadLetterQueue() string { return c.Exchange + ".dlq" }

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration = settings.Duration
