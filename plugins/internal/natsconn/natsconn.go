// Package natsconn connects the NATS plugins to their server with the
// connection settings their Configs share: each embeds Settings, so that
// the fields, their JSON names, defaults and checks are written once.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/seedmicro/micro/core/redact"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Defaults of Settings.
const (
	DefaultURL           = "nats://127.0.0.1:4222"
	DefaultReconnectWait = 250 * time.Millisecond
)

// Settings are the connection fields of a NATS plugin's Config, which
// embeds them: their JSON names are the plugin's settings.
type Settings struct {
	// URL is the server to connect to, or a comma-separated list of
	// servers of one cluster. User and password may be given in it.
	// Default DefaultURL.
	URL string `json:"url,omitempty"`
	// Name is the connection name the server shows in its monitoring.
	// Default: the plugin's kind, such as "micro-broker".
	Name string `json:"name,omitempty"`
	// User and Password authenticate with a user name and password.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// Token authenticates with a token.
	Token string `json:"token,omitempty"`
	// CredsFile is a credentials file (JWT and NKey seed) to authenticate
	// with.
	CredsFile string `json:"creds_file,omitempty"`
	// TLSCAFile is a PEM file of the CAs to verify the server with;
	// TLSCertFile and TLSKeyFile are the client certificate and key for
	// mutual TLS. Setting any of them, or a tls:// URL, turns TLS on.
	TLSCAFile   string `json:"tls_ca_file,omitempty"`
	TLSCertFile string `json:"tls_cert_file,omitempty"`
	TLSKeyFile  string `json:"tls_key_file,omitempty"`
	// ReconnectWait is the pause between reconnection attempts after the
	// connection is lost; the client reconnects for ever. Default
	// DefaultReconnectWait.
	ReconnectWait settings.Duration `json:"reconnect_wait,omitempty"`
}

// WithDefaults returns s with its zero fields set to their defaults, name
// being the connection name.
func (s Settings) WithDefaults(name string) Settings {
	settings.SetDefault(&s.URL, DefaultURL)
	settings.SetDefault(&s.Name, name)
	settings.SetDefault(&s.ReconnectWait, settings.Duration(DefaultReconnectWait))
	return s
}

// Validate reports the first invalid field of s, after defaults, named as a
// field of the plugin's Config.
func (s Settings) Validate() error {
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return Invalid("TLSCertFile", "TLSCertFile and TLSKeyFile must be set together")
	}
	if s.ReconnectWait < 0 {
		return Invalid("ReconnectWait", "negative")
	}
	return nil
}

// Invalid is the error of a Config field of a NATS plugin that is not
// valid.
func Invalid(field, format string, args ...any) error {
	return fmt.Errorf("nats: invalid Config.%s: %s", field, fmt.Sprintf(format, args...))
}

// Connect dials the server of s, with the options extra last; it retries
// until ctx ends, so that a server starting at the same time as the service
// is waited for. Its errors and log records show no password or token.
func Connect(ctx context.Context, s Settings, log *slog.Logger, extra ...natsgo.Option) (*natsgo.Conn, error) {
	opts := []natsgo.Option{
		natsgo.Name(s.Name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(time.Duration(s.ReconnectWait)),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected; reconnecting", "err", s.redact(err))
			}
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) {
			log.Info("nats: reconnected", "server", redact.URL(c.ConnectedUrlRedacted()))
		}),
	}
	if s.User != "" || s.Password != "" {
		opts = append(opts, natsgo.UserInfo(s.User, s.Password))
	}
	if s.Token != "" {
		opts = append(opts, natsgo.Token(s.Token))
	}
	if s.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(s.CredsFile))
	}
	if s.TLSCAFile != "" {
		opts = append(opts, natsgo.RootCAs(s.TLSCAFile))
	}
	if s.TLSCertFile != "" {
		opts = append(opts, natsgo.ClientCert(s.TLSCertFile, s.TLSKeyFile))
	}
	opts = append(opts, extra...)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		nc, err := natsgo.Connect(s.URL, opts...)
		if err == nil {
			return nc, nil
		}
		if !errors.Is(err, natsgo.ErrNoServers) {
			return nil, fmt.Errorf("nats: connect to %s: %w", redact.URL(s.URL), s.redact(err))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("nats: connect to %s: %w (%w)", redact.URL(s.URL), s.redact(err), ctx.Err())
		case <-time.After(wait):
		}
	}
}

// redact hides the password of s.URL in err's message, wherever the
// client quotes the URL or a piece of it.
func (s Settings) redact(err error) error { return redact.Error(err, s.URL) }
