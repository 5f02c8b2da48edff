package local

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// Option configures a Registry built by New.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	dir     string
	poll    time.Duration
	gcGrace time.Duration
}

// Defaults.
const (
	// DefaultPollInterval is how often a watcher rescans the directory.
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultGCGrace is how long an expired or unreadable file is left in
	// place before a reader deletes it.
	DefaultGCGrace = 30 * time.Second
	// EnvDir names the environment variable that sets the default
	// directory.
	EnvDir = "MICRO_REGISTRY_DIR"
)

// WithDir sets the directory that holds the registry. Every process that
// uses the same directory sees the same services. The default is the value of
// $MICRO_REGISTRY_DIR, else micro/registry under os.UserCacheDir.
func WithDir(dir string) Option {
	return optionFunc(func(o *options) { o.dir = dir })
}

// WithPollInterval sets how often a watcher rescans the directory for
// changes (default DefaultPollInterval). Values below 1ms select the default.
func WithPollInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d >= time.Millisecond {
			o.poll = d
		}
	})
}

// WithGCGrace sets how long after its expiry a node's file (or how long after
// its last change an unreadable or abandoned temporary file) stays on disk
// before a reader deletes it (default DefaultGCGrace). Expired nodes are
// invisible at once either way; the grace period only keeps a reader from
// deleting a file that its owner is rewriting at that very moment.
// Values below zero select the default.
func WithGCGrace(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d >= 0 {
			o.gcGrace = d
		}
	})
}

// DefaultDir returns the directory used when WithDir is not given:
// $MICRO_REGISTRY_DIR if set, else micro/registry under os.UserCacheDir.
func DefaultDir() (string, error) {
	if dir := os.Getenv(EnvDir); dir != "" {
		return dir, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", errors.Join(errors.New("local: no registry directory; set "+EnvDir+" or use WithDir"), err)
	}
	return filepath.Join(cache, "micro", "registry"), nil
}
