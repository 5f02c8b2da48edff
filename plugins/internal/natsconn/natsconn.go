// Package natsconn connects the NATS plugins to their server with the
// connection settings their Configs share.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Settings are the connection fields of a plugin's Config.
type Settings struct {
	URL, Name                          string
	User, Password, Token, CredsFile   string
	TLSCAFile, TLSCertFile, TLSKeyFile string
	ReconnectWait                      time.Duration
}

// Connect dials the server of cfg, with the options extra last; it retries
// until ctx ends, so that a server starting at the same time as the service
// is waited for.
func Connect(ctx context.Context, cfg Settings, log *slog.Logger, extra ...natsgo.Option) (*natsgo.Conn, error) {
	opts := []natsgo.Option{
		natsgo.Name(cfg.Name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(cfg.ReconnectWait),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected; reconnecting", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) {
			log.Info("nats: reconnected", "server", c.ConnectedUrlRedacted())
		}),
	}
	if cfg.User != "" || cfg.Password != "" {
		opts = append(opts, natsgo.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, natsgo.Token(cfg.Token))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCAFile != "" {
		opts = append(opts, natsgo.RootCAs(cfg.TLSCAFile))
	}
	if cfg.TLSCertFile != "" {
		opts = append(opts, natsgo.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	opts = append(opts, extra...)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		nc, err := natsgo.Connect(cfg.URL, opts...)
		if err == nil {
			return nc, nil
		}
		if !errors.Is(err, natsgo.ErrNoServers) {
			return nil, fmt.Errorf("nats: connect to %s: %w", Redact(cfg.URL), err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("nats: connect to %s: %w (%w)", Redact(cfg.URL), err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// Redact hides the password of a URL for error messages.
func Redact(url string) string {
	if at := strings.LastIndexByte(url, '@'); at >= 0 {
		if scheme := strings.Index(url, "://"); scheme >= 0 && scheme < at {
			return url[:scheme+3] + "***" + url[at:]
		}
	}
	return url
}
