package nats

import (
	"time"

	"github.com/seedmicro/micro/plugins/internal/natsconn"
	"github.com/seedmicro/micro/plugins/internal/natskv"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL           = natsconn.DefaultURL
	DefaultBucket        = "micro_store"
	DefaultReconnectWait = natsconn.DefaultReconnectWait
	DefaultSweepInterval = 5 * time.Minute
)

// Config holds the settings of a Store. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON: durations are
// strings such as "5m".
type Config struct {
	// Connection holds the connection settings: url, name, user,
	// password, token, creds_file, tls_ca_file, tls_cert_file,
	// tls_key_file and reconnect_wait. The connection name defaults to
	// "micro-store".
	Connection

	// KV holds the settings of the key-value bucket of the store:
	// bucket (default DefaultBucket), storage and replicas. New creates
	// the bucket when it does not exist (history 1).
	KV

	// SweepInterval is how often the store looks through the whole bucket
	// to delete expired records that nobody read, and delete markers older
	// than an hour. A negative value turns sweeping off. Default
	// DefaultSweepInterval.
	SweepInterval Duration `json:"sweep_interval,omitempty"`
}

func (c Config) withDefaults() Config {
	c.Connection = c.Connection.WithDefaults("micro-store")
	c.KV = c.KV.WithDefaults(DefaultBucket)
	settings.SetDefault(&c.SweepInterval, Duration(DefaultSweepInterval))
	return c
}

func (c Config) validate() error {
	if err := c.KV.Validate(); err != nil {
		return err
	}
	return c.Connection.Validate()
}

// bucket is how to create the bucket of c.
func (c Config) bucket() natskv.BucketConfig {
	return natskv.BucketConfig{Settings: c.KV, Description: "micro store"}
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
