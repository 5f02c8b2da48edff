package nats

import (
	"strings"
	"time"

	"github.com/seedmicro/micro/plugins/internal/natsconn"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Modes of a Broker, the values of Config.Mode.
const (
	// ModeJetStream delivers at least once through a JetStream stream.
	ModeJetStream = "jetstream"
	// ModeCore delivers at most once through core NATS subjects.
	ModeCore = "core"
)

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultURL               = natsconn.DefaultURL
	DefaultSubjectPrefix     = "micro"
	DefaultStream            = "MICRO"
	DefaultStreamMaxAge      = 24 * time.Hour
	DefaultDuplicateWindow   = 2 * time.Minute
	DefaultAckWait           = 30 * time.Second
	DefaultNakDelay          = time.Second
	DefaultMaxDeliver        = 5
	DefaultMaxAckPending     = 1024
	DefaultPrefetch          = 64
	DefaultInactiveThreshold = time.Minute
	DefaultPublishTimeout    = 10 * time.Second
	DefaultReconnectWait     = natsconn.DefaultReconnectWait
)

// Config holds the settings of a Broker. Zero fields take the defaults
// above; New validates the result and names the field at fault. It is what
// an out-of-process plugin decodes, strictly, from JSON: durations are
// strings such as "30s" or "1m30s".
type Config struct {
	// Connection holds the connection settings: url, name, user,
	// password, token, creds_file, tls_ca_file, tls_cert_file,
	// tls_key_file and reconnect_wait. The connection name defaults to
	// "micro-broker".
	Connection

	// Mode is ModeJetStream (default): at-least-once delivery through a
	// stream; or ModeCore: at-most-once delivery through plain subjects.
	Mode string `json:"mode,omitempty"`
	// SubjectPrefix is put in front of every topic: topic "orders.created"
	// is subject "micro.orders.created". Default DefaultSubjectPrefix.
	SubjectPrefix string `json:"subject_prefix,omitempty"`

	// The fields below apply to ModeJetStream only.

	// Stream is the stream that holds the messages, over the subjects
	// "<SubjectPrefix>.>". New creates it when it does not exist, with the
	// Stream* settings below; an existing stream is used as it is, and must
	// cover those subjects. Default DefaultStream.
	Stream string `json:"stream,omitempty"`
	// StreamMaxAge is how long the stream keeps a message. Default
	// DefaultStreamMaxAge.
	StreamMaxAge Duration `json:"stream_max_age,omitempty"`
	// StreamMaxBytes bounds the size of the stream; the oldest messages go
	// first. 0 means no limit.
	StreamMaxBytes int64 `json:"stream_max_bytes,omitempty"`
	// StreamStorage is "file" (default) or "memory".
	StreamStorage string `json:"stream_storage,omitempty"`
	// StreamReplicas is the number of replicas in a cluster. Default 1.
	StreamReplicas int `json:"stream_replicas,omitempty"`
	// DuplicateWindow is how long the stream remembers message IDs to drop
	// a message published again with the same ID. Default
	// DefaultDuplicateWindow.
	DuplicateWindow Duration `json:"duplicate_window,omitempty"`

	// AckWait is how long the server waits for a handler to return before
	// it redelivers the message. A handler that runs longer keeps its
	// message: the broker tells the server it is still in progress every
	// AckWait/2. Default DefaultAckWait.
	AckWait Duration `json:"ack_wait,omitempty"`
	// NakDelay is how long a message rejected by its handler waits before
	// it is delivered again. Default DefaultNakDelay.
	NakDelay Duration `json:"nak_delay,omitempty"`
	// MaxDeliver is how many times a message is delivered to a
	// subscription (or a queue group) before it is given up on; -1 means no
	// limit. Default DefaultMaxDeliver. See DeadLetterTopic.
	MaxDeliver int `json:"max_deliver,omitempty"`
	// DeadLetterTopic, when set, receives a copy of every message given up
	// on after MaxDeliver attempts, before the original is terminated.
	DeadLetterTopic string `json:"dead_letter_topic,omitempty"`
	// MaxAckPending bounds the messages a subscription (or a queue group)
	// has received and not yet acknowledged. Default DefaultMaxAckPending.
	MaxAckPending int `json:"max_ack_pending,omitempty"`
	// Prefetch is how many messages each subscriber pulls ahead of its
	// handler. Lower values share a queue group's work more evenly. Default
	// DefaultPrefetch.
	Prefetch int `json:"prefetch,omitempty"`
	// InactiveThreshold is how long the server keeps the consumer of a
	// subscriber without queue group after it stops asking for messages
	// (its process died). Default DefaultInactiveThreshold.
	InactiveThreshold Duration `json:"inactive_threshold,omitempty"`
	// PublishTimeout bounds a Publish whose ctx has no deadline; the
	// broker retries a publish whose acknowledgement did not arrive until
	// then. Default DefaultPublishTimeout.
	PublishTimeout Duration `json:"publish_timeout,omitempty"`
}

// withDefaults returns c with the zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Connection = c.Connection.WithDefaults("micro-broker")
	settings.SetDefault(&c.Mode, ModeJetStream)
	settings.SetDefault(&c.SubjectPrefix, DefaultSubjectPrefix)
	settings.SetDefault(&c.Stream, DefaultStream)
	settings.SetDefault(&c.StreamStorage, "file")
	settings.SetDefault(&c.StreamReplicas, 1)
	settings.SetDefault(&c.StreamMaxAge, Duration(DefaultStreamMaxAge))
	settings.SetDefault(&c.DuplicateWindow, Duration(DefaultDuplicateWindow))
	settings.SetDefault(&c.AckWait, Duration(DefaultAckWait))
	settings.SetDefault(&c.NakDelay, Duration(DefaultNakDelay))
	settings.SetDefault(&c.MaxDeliver, DefaultMaxDeliver)
	settings.SetDefault(&c.MaxAckPending, DefaultMaxAckPending)
	settings.SetDefault(&c.Prefetch, DefaultPrefetch)
	settings.SetDefault(&c.InactiveThreshold, Duration(DefaultInactiveThreshold))
	settings.SetDefault(&c.PublishTimeout, Duration(DefaultPublishTimeout))
	return c
}

// validate reports the first invalid field of c, after defaults.
func (c Config) validate() error {
	bad := natsconn.Invalid
	if c.Mode != ModeJetStream && c.Mode != ModeCore {
		return bad("Mode", "%q; want %q or %q", c.Mode, ModeJetStream, ModeCore)
	}
	if err := checkSubject(c.SubjectPrefix); err != nil {
		return bad("SubjectPrefix", "%v", err)
	}
	if err := c.Connection.Validate(); err != nil {
		return err
	}
	if c.Mode == ModeCore {
		return nil
	}
	if c.Stream == "" || strings.ContainsAny(c.Stream, ".*> \t\r\n/\\") {
		return bad("Stream", "%q; a stream name must not be empty or contain '.', '*', '>', '/', '\\' or white space", c.Stream)
	}
	if c.StreamStorage != "file" && c.StreamStorage != "memory" {
		return bad("StreamStorage", "%q; want \"file\" or \"memory\"", c.StreamStorage)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"StreamMaxAge", c.StreamMaxAge}, {"DuplicateWindow", c.DuplicateWindow},
		{"AckWait", c.AckWait}, {"NakDelay", c.NakDelay},
		{"InactiveThreshold", c.InactiveThreshold}, {"PublishTimeout", c.PublishTimeout},
	} {
		if d.v < 0 {
			return bad(d.field, "negative duration %v", time.Duration(d.v))
		}
	}
	if c.DuplicateWindow > c.StreamMaxAge {
		return bad("DuplicateWindow", "%v is longer than StreamMaxAge %v", time.Duration(c.DuplicateWindow), time.Duration(c.StreamMaxAge))
	}
	if c.StreamMaxBytes < 0 {
		return bad("StreamMaxBytes", "negative")
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		return bad("StreamReplicas", "%d; want 1 to 5", c.StreamReplicas)
	}
	if c.MaxDeliver < -1 {
		return bad("MaxDeliver", "%d; want a positive number, or -1 for no limit", c.MaxDeliver)
	}
	if c.MaxAckPending < 1 {
		return bad("MaxAckPending", "%d; want at least 1", c.MaxAckPending)
	}
	if c.Prefetch < 1 {
		return bad("Prefetch", "%d; want at least 1", c.Prefetch)
	}
	if c.DeadLetterTopic != "" {
		if err := checkTopic(c.DeadLetterTopic); err != nil {
			return bad("DeadLetterTopic", "%v", err)
		}
	}
	return nil
}

// Connection is the connection part of a Config, the same in every NATS
// plugin.
type Connection = natsconn.Settings

// Duration is a time.Duration that reads and writes JSON as a string such as
// "1m30s". It also reads a number, as nanoseconds.
type Duration = settings.Duration
