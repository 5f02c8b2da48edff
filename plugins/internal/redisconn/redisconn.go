// Package redisconn is what the Redis plugins share to connect: the
// connection settings their Configs embed, and the client made from the
// URL, or the one given, checked with a PING.
package redisconn

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/redact"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// DefaultURL is the server of a Config that names none.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Settings are the connection fields of a Redis plugin's Config, which
// embeds them: their JSON names are the plugin's settings.
type Settings struct {
	// URL is the Redis server: redis://[user:password@]host:port/db, or
	// rediss:// for TLS. The query parameters of go-redis's ParseURL are
	// accepted (pool_size, dial_timeout, read_timeout, client_name,
	// skip_verify, ...). Default DefaultURL.
	URL string `json:"url,omitempty"`
}

// WithDefaults returns s with its zero fields set to their defaults.
func (s Settings) WithDefaults() Settings {
	settings.SetDefault(&s.URL, DefaultURL)
	return s
}

// Validate reports a URL that go-redis cannot parse, as an error that
// starts with component and names Config.URL, without the URL's password.
func (s Settings) Validate(component string) error {
	if _, err := goredis.ParseURL(s.URL); err != nil {
		return invalidURL(component, &BadURLError{URL: s.URL, Err: err})
	}
	return nil
}

func invalidURL(component string, err *BadURLError) error {
	return Invalid(component, "URL", "%w", err)
}

// Open is the package's Open for s.URL, with a URL that cannot be parsed
// reported as Validate reports it.
func (s Settings) Open(ctx context.Context, component, name string, client *goredis.Client) (*goredis.Client, bool, error) {
	c, owned, err := Open(ctx, component, s.URL, name, client)
	if bad, ok := errors.AsType[*BadURLError](err); ok {
		return nil, false, invalidURL(component, bad)
	}
	return c, owned, err
}

// BadURLError is a URL that go-redis cannot parse. Its message shows the
// URL and the parser's complaint without the URL's password.
type BadURLError struct {
	URL string
	Err error
}

func (e *BadURLError) Error() string {
	return fmt.Sprintf("%q: %v", redact.URL(e.URL), redact.Error(e.Err, e.URL))
}

func (e *BadURLError) Unwrap() error { return e.Err }

// Open returns client, if not nil, or a new client for rawURL that names
// itself name (unless the URL sets client_name) and bounds each command by
// its context; then it checks that the server answers a PING within ctx.
// owned says that Open made the client, for the caller to close it. A URL
// that cannot be parsed is a *BadURLError; a server that does not answer is
// an error that starts with prefix and names the server. No error shows
// the URL's password.
func Open(ctx context.Context, prefix, rawURL, name string, client *goredis.Client) (c *goredis.Client, owned bool, err error) {
	if client == nil {
		opt, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, false, &BadURLError{URL: rawURL, Err: err}
		}
		if opt.ClientName == "" {
			opt.ClientName = name
		}
		opt.ContextTimeoutEnabled = true
		client, owned = goredis.NewClient(opt), true
	}
	if err := client.Ping(ctx).Err(); err != nil {
		if owned {
			client.Close()
		}
		return nil, false, fmt.Errorf("%s: cannot reach Redis at %s: %w", prefix, redact.URL(rawURL), redact.Error(err, rawURL))
	}
	return client, owned, nil
}
