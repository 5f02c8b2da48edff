// Package redisconn is what the Redis plugins share to connect: the client
// made from a URL, or the one given, checked with a PING.
package redisconn

import (
	"context"
	"fmt"
	"net/url"

	goredis "github.com/redis/go-redis/v9"
)

// BadURLError is a URL that go-redis cannot parse. Its message shows the
// URL without its password.
type BadURLError struct {
	URL string
	Err error
}

func (e *BadURLError) Error() string { return fmt.Sprintf("%q: %v", Redact(e.URL), e.Err) }
func (e *BadURLError) Unwrap() error { return e.Err }

// Open returns client, if not nil, or a new client for rawURL that names
// itself name (unless the URL sets client_name) and bounds each command by
// its context; then it checks that the server answers a PING within ctx.
// owned says that Open made the client, for the caller to close it. A URL
// that cannot be parsed is a *BadURLError; a server that does not answer is
// an error that starts with prefix and names the server.
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
		return nil, false, fmt.Errorf("%s: cannot reach Redis at %s: %w", prefix, Redact(rawURL), err)
	}
	return client, owned, nil
}

// Redact hides the password of a URL, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
