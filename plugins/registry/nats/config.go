package nats

import (
	"github.com/seedmicro/micro/plugins/internal/natsconn"
	"github.com/seedmicro/micro/plugins/internal/natskv"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL           = natsconn.DefaultURL
	DefaultBucket        = "micro_registry"
	DefaultReconnectWait = natsconn.DefaultReconnectWait
	DefaultWatchQueue    = 4096
)

// Config holds the settings of a Registry. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON: durations are
// strings such as "250ms".
type Config struct {
	// Connection holds the connection settings: url, name, user,
	// password, token, creds_file, tls_ca_file, tls_cert_file,
	// tls_key_file and reconnect_wait. The connection name defaults to
	// "micro-registry".
	Connection

	// KV holds the settings of the key-value bucket of the registry:
	// bucket (default DefaultBucket), storage and replicas. New creates
	// the bucket when it does not exist (history 1).
	KV

	// WatchQueue is how many events a watcher holds for its reader before
	// it is ended with ErrWatcherOverflow. Default DefaultWatchQueue.
	WatchQueue int `json:"watch_queue,omitempty"`
}

func (c Config) withDefaults() Config {
	c.Connection = c.Connection.WithDefaults("micro-registry")
	c.KV = c.KV.WithDefaults(DefaultBucket)
	settings.SetDefault(&c.WatchQueue, DefaultWatchQueue)
	return c
}

func (c Config) validate() error {
	if err := c.KV.Validate(); err != nil {
		return err
	}
	if c.WatchQueue < 1 {
		return natsconn.Invalid("WatchQueue", "%d; want at least 1", c.WatchQueue)
	}
	return c.Connection.Validate()
}

// bucket is how to create the bucket of c.
func (c Config) bucket() natskv.BucketConfig {
	return natskv.BucketConfig{Settings: c.KV, Description: "micro service registry"}
}

// Connection is the connection part of a Config, the same in every NATS
// plugin.
type Connection = natsconn.Settings

// KV is the bucket part of a Config, the same in every NATS plugin that
// keeps its data in a key-value bucket.
type KV = natskv.Settings

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration = settings.Duration
