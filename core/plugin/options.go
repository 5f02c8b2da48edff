package plugin

import (
	"bytes"
	"log/slog"
	"time"
)

// DefaultStartTimeout bounds how long Open waits for a plugin process to
// start and answer, unless the context given to Open ends sooner or
// WithStartTimeout says otherwise.
const DefaultStartTimeout = 30 * time.Second

// Option configures Open and TestClient.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	settings     []byte
	checksum     []byte
	logger       *slog.Logger
	name         string
	startTimeout time.Duration
}

func newOptions(opts []Option) *options {
	o := &options{startTimeout: DefaultStartTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(o)
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// WithSettings sets the plugin's settings: a JSON document that the plugin
// decodes strictly into its own configuration (see DecodeSettings). Without
// it the plugin gets no settings. Settings the plugin rejects make Open
// fail with a *SettingsError that names the field. The settings may hold
// credentials: they are sent to the plugin and never logged.
func WithSettings(settings []byte) Option {
	settings = bytes.Clone(settings)
	return optionFunc(func(o *options) { o.settings = settings })
}

// WithChecksum makes Open verify, before it starts the binary, that the
// binary's SHA-256 checksum is sum; when it is not, Open fails with
// ErrChecksumMismatch and nothing is started. Without it the binary is not
// verified.
func WithChecksum(sum []byte) Option {
	sum = bytes.Clone(sum)
	return optionFunc(func(o *options) { o.checksum = sum })
}

// WithLogger sets the logger that receives the plugin's logs, and those of
// the plugin machinery about it, each with the attribute plugin=<name>.
// The plugin logs at the level the logger enables, and no lower. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithName sets the plugin's name in logs and errors, such as
// "broker/rabbitmq". The default comes from the binary's name:
// micro-plugin-broker-rabbitmq is broker/rabbitmq, any other binary goes by
// its file name.
func WithName(name string) Option {
	return optionFunc(func(o *options) { o.name = name })
}

// WithStartTimeout bounds how long Open waits for the plugin process to
// start and hand over its address; DefaultStartTimeout by default. A
// deadline of the context given to Open that comes sooner wins.
func WithStartTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.startTimeout = d
		}
	})
}
