package nats

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/seedmicro/micro/plugins/internal/natsconn"
	"github.com/seedmicro/micro/plugins/internal/natskv"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL           = "nats://127.0.0.1:4222"
	DefaultBucket        = "micro_registry"
	DefaultReconnectWait = 250 * time.Millisecond
	DefaultWatchQueue    = 4096
)

// Config holds the settings of a Registry. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON: durations are
// strings such as "250ms".
type Config struct {
	// URL is the server to connect to, or a comma-separated list of
	// servers of one cluster. Default DefaultURL.
	URL string `json:"url,omitempty"`
	// Name is the connection name the server shows in its monitoring.
	// Default "micro-registry".
	Name string `json:"name,omitempty"`
	// User and Password authenticate with a user name and password.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// Token authenticates with a token.
	Token string `json:"token,omitempty"`
	// CredsFile is a credentials file (JWT and NKey seed).
	CredsFile string `json:"creds_file,omitempty"`
	// TLSCAFile is a PEM file of the CAs to verify the server with;
	// TLSCertFile and TLSKeyFile are the client certificate and key.
	TLSCAFile   string `json:"tls_ca_file,omitempty"`
	TLSCertFile string `json:"tls_cert_file,omitempty"`
	TLSKeyFile  string `json:"tls_key_file,omitempty"`
	// ReconnectWait is the pause between reconnection attempts. Default
	// DefaultReconnectWait.
	ReconnectWait Duration `json:"reconnect_wait,omitempty"`

	// Bucket is the key-value bucket of the registry; New creates it when
	// it does not exist (history 1). Default DefaultBucket.
	Bucket string `json:"bucket,omitempty"`
	// Storage is "file" (default) or "memory", for a bucket New creates.
	Storage string `json:"storage,omitempty"`
	// Replicas is the number of replicas of a bucket New creates, in a
	// cluster. Default 1.
	Replicas int `json:"replicas,omitempty"`
	// WatchQueue is how many events a watcher holds for its reader before
	// it is ended with ErrWatcherOverflow. Default DefaultWatchQueue.
	WatchQueue int `json:"watch_queue,omitempty"`
}

func (c Config) withDefaults() Config {
	settings.SetDefault(&c.URL, DefaultURL)
	settings.SetDefault(&c.Name, "micro-registry")
	settings.SetDefault(&c.ReconnectWait, Duration(DefaultReconnectWait))
	settings.SetDefault(&c.Bucket, DefaultBucket)
	settings.SetDefault(&c.Storage, "file")
	settings.SetDefault(&c.Replicas, 1)
	settings.SetDefault(&c.WatchQueue, DefaultWatchQueue)
	return c
}

func (c Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("nats: invalid Config.%s: %s", field, fmt.Sprintf(format, args...))
	}
	if !natskv.ValidBucket(c.Bucket) {
		return bad("Bucket", "%q; a bucket name holds only ASCII letters, digits, '-' and '_'", c.Bucket)
	}
	if c.Storage != "file" && c.Storage != "memory" {
		return bad("Storage", "%q; want \"file\" or \"memory\"", c.Storage)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return bad("Replicas", "%d; want 1 to 5", c.Replicas)
	}
	if c.WatchQueue < 1 {
		return bad("WatchQueue", "%d; want at least 1", c.WatchQueue)
	}
	if c.ReconnectWait < 0 {
		return bad("ReconnectWait", "negative")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return bad("TLSCertFile", "TLSCertFile and TLSKeyFile must be set together")
	}
	return nil
}

// connect dials the server of cfg, retrying until ctx ends.
func connect(ctx context.Context, cfg Config, log *slog.Logger) (*natsgo.Conn, error) {
	return natsconn.Connect(ctx, natsconn.Settings{
		URL: cfg.URL, Name: cfg.Name,
		User: cfg.User, Password: cfg.Password, Token: cfg.Token, CredsFile: cfg.CredsFile,
		TLSCAFile: cfg.TLSCAFile, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
		ReconnectWait: time.Duration(cfg.ReconnectWait),
	}, log)
}

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration = settings.Duration
