package plugin

import (
	"bytes"
	"context"
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
	settings       []byte
	pin            *Pin
	pinFunc        func(ctx context.Context, name string) (Pin, error)
	projectDir     string
	logger         *slog.Logger
	name           string
	startTimeout   time.Duration
	healthInterval time.Duration
	procs          int
	gcPercent      int
}

func newOptions(opts []Option) *options {
	o := &options{startTimeout: DefaultStartTimeout, healthInterval: DefaultHealthInterval, procs: DefaultProcs, gcPercent: DefaultGCPercent}
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

// DefaultProcs is the GOMAXPROCS of a plugin process unless WithProcs says
// otherwise. A plugin passes calls between its host and a server: it waits
// on I/O far more than it computes, and with one processor the goroutine
// that a socket wakes runs on the thread that is awake, instead of waking
// another thread for it, which costs more than the work on a virtual
// machine. Measured on a 2-core machine, back to back
// (go run ./bench/cmd/brokerbench -brokers=redis,nats -systems=raw,plugin
// -rounds=2 with -procs=0, then -procs=1): Redis Streams publish-and-consume through the plugin went
// from 0.53 to 0.62 of the raw client, NATS JetStream from 0.49 to 0.57.
const DefaultProcs = 1

// WithProcs sets the GOMAXPROCS of the plugin process: n > 0 processors,
// or for n <= 0 what the plugin inherits from the host's environment (the
// Go runtime's default, the machine's CPUs, unless GOMAXPROCS is set
// there). The default is DefaultProcs. A plugin that computes much
// (compression, encryption of its own) is faster with more.
func WithProcs(n int) Option {
	return optionFunc(func(o *options) { o.procs = n })
}

// DefaultGCPercent is the GOGC of a plugin process unless WithGCPercent
// says otherwise. A broker plugin holds little in memory while every
// message it passes on allocates: at Go's default of 100 it collects
// garbage many times a second, and on its single processor (DefaultProcs)
// the collector's work and wake-ups delay the calls in progress. At 400 a
// cycle comes four times less often, for a heap that may grow to five
// times the live one. Measured on a 2-core machine, alternately three times
// (go run ./bench/cmd/brokerbench -brokers=redis -systems=plugin
// -tests=pubsub -messages=50000 -rounds=2, with -gogc=0, then -gogc=400),
// the plugin's CPU time per message of publish-and-consume through the
// Redis plugin, median of 6: 39 µs at 100, 36 µs at 400 (42 and 33 in an
// earlier run of the same comparison); throughput moved less than the
// machine's noise.
const DefaultGCPercent = 400

// WithGCPercent sets the GOGC of the plugin process: n > 0 percent, or for
// n <= 0 what the plugin inherits from the host's environment (Go's default
// of 100 unless GOGC is set there). The default is DefaultGCPercent. A
// plugin that holds much in memory may want less.
func WithGCPercent(n int) Option {
	return optionFunc(func(o *options) { o.gcPercent = n })
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

// WithChecksum makes Open verify, before it starts the binary and before
// every restart, that the binary's SHA-256 checksum is sum; when it is not,
// Open fails with ErrChecksumMismatch and nothing is started. Without it (or
// WithPin, WithChecksumFunc, WithPinFunc) Open does not verify the binary; a
// Manager reads the pin from its directory's lock file. It is
// WithPin(Pin{SHA256: sum}).
func WithChecksum(sum []byte) Option {
	return WithPin(Pin{SHA256: sum})
}

// WithPin is WithChecksum with a Pin: the binary is verified with its
// BLAKE3 digest when the pin has one, else with its SHA-256.
func WithPin(p Pin) Option {
	p = Pin{SHA256: bytes.Clone(p.SHA256), BLAKE3: bytes.Clone(p.BLAKE3)}
	return optionFunc(func(o *options) { o.pin, o.pinFunc = &p, nil })
}

// WithChecksumFunc is WithChecksum with the checksum looked up by f, with
// the plugin's name, before every launch: the first and every restart. A
// host that reads the checksum from a lock file passes a function that reads
// the lock, so that a restart starts the binary pinned at that moment. An
// error of f fails the launch with that error, and nothing is started.
func WithChecksumFunc(f func(ctx context.Context, name string) ([]byte, error)) Option {
	return WithPinFunc(func(ctx context.Context, name string) (Pin, error) {
		sum, err := f(ctx, name)
		return Pin{SHA256: sum}, err
	})
}

// WithPinFunc is WithChecksumFunc with a Pin.
func WithPinFunc(f func(ctx context.Context, name string) (Pin, error)) Option {
	return optionFunc(func(o *options) { o.pinFunc, o.pin = f, nil })
}

// WithProjectDir makes a Manager, which reads each plugin's pin from its
// directory's lock file, also check it against the project's lock file, the
// first micro.lock in dir or a parent directory: a plugin the project pins
// must be installed with the SHA-256 the project pins, or it is not started
// (a *lock.ProjectMismatchError). It does nothing with WithChecksum,
// WithPin, WithChecksumFunc or WithPinFunc, which say the pin themselves.
func WithProjectDir(dir string) Option {
	return optionFunc(func(o *options) { o.projectDir = dir })
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

// DefaultHealthInterval is how often a plugin process is health-checked
// unless WithHealthCheck says otherwise.
const DefaultHealthInterval = 5 * time.Second

// healthFailures is how many health checks in a row a plugin process may
// fail before it is killed and restarted.
const healthFailures = 3

// WithHealthCheck sets how often the host checks that a plugin process
// answers (the gRPC health service go-plugin serves); each check may take as
// long. A process that fails three checks in a row is killed and restarted
// as after a crash. The default is DefaultHealthInterval; d <= 0 turns the
// checks off.
func WithHealthCheck(d time.Duration) Option {
	return optionFunc(func(o *options) { o.healthInterval = d })
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
