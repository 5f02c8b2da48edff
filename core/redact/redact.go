// Package redact hides secrets in what micro prints: the password of a URL's
// user information, secret-like query parameters and configuration fields
// (password, token, secret, ...), also in the messages of errors that
// libraries build around a URL they could not parse.
//
// Every path that prints an address, a setting or an error that may carry
// one goes through this package:
//
//	log.Info("connecting", "url", redact.URL(raw))
//	return redact.Error(err, raw) // err's message may quote raw
package redact

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// Mask is what a secret is replaced with.
const Mask = "xxxxx"

// secretWords are the parts of a name that make a query parameter or a
// setting secret.
var secretWords = []string{
	"password", "passwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
	"credential", "private_key", "privatekey", "access_key", "accesskey", "signature",
}

// IsSecretName reports whether a query parameter or setting of this name
// holds a secret: a name that contains password, secret, token, apikey and
// the like, or is exactly pass, pwd or auth (case is ignored).
func IsSecretName(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "pass", "pwd", "auth", "key", "sig":
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// URL returns raw with its secrets masked: the password of the user
// information (scheme://user:xxxxx@host) and the values of secret-like query
// parameters. It does not need raw to parse: an address that url.Parse
// refuses is masked all the same, so it is safe to print in the error that
// says it is malformed. A comma-separated list of URLs, as NATS takes, is
// masked URL by URL.
func URL(raw string) string {
	if strings.Contains(raw, ",") && strings.Count(raw, "://") > 1 {
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			parts[i] = URL(p)
		}
		return strings.Join(parts, ",")
	}
	out := raw
	if pw, start, end, ok := password(raw); ok && pw != "" {
		out = raw[:start] + Mask + raw[end:]
	}
	return maskQuery(out)
}

// password finds the password of rawURL's user information by hand, so that
// it works on a URL that does not parse: the text between the first ':' and
// the last '@' of the authority.
func password(raw string) (pw string, start, end int, ok bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", 0, 0, false
	}
	authStart := i + 3
	rest := raw[authStart:]
	// The authority ends at the first '/', '?' or '#' after the last '@'
	// that precedes any of them; a password may itself hold '/', so look
	// for the last '@' first.
	stop := len(rest)
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if j := strings.IndexAny(rest[at:], "/?#"); j >= 0 {
			stop = at + j
		}
	} else {
		return "", 0, 0, false
	}
	auth := rest[:stop]
	at := strings.LastIndex(auth, "@")
	userinfo := auth[:at]
	colon := strings.Index(userinfo, ":")
	if colon < 0 {
		return "", 0, 0, false
	}
	start = authStart + colon + 1
	end = authStart + at
	return raw[start:end], start, end, true
}

var queryRE = regexp.MustCompile(`([?&;])([^=&#;\s"']+)=([^&#;\s"']*)`)

// maskQuery masks the values of secret-like query parameters.
func maskQuery(s string) string {
	return queryRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := queryRE.FindStringSubmatch(m)
		if !IsSecretName(sub[2]) || sub[3] == "" {
			return m
		}
		return sub[1] + sub[2] + "=" + Mask
	})
}

var urlRE = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// Text masks every URL in free text, such as an error message that quotes
// one.
func Text(s string) string {
	return urlRE.ReplaceAllStringFunc(s, URL)
}

// Error returns err with the secrets of its message masked: every URL in it,
// and, for each raw address given, that address's password wherever it
// appears, or any quoted fragment of it (url.Parse quotes the bad escape it
// found, which may be part of a password). The result unwraps to err, so
// errors.Is and errors.As still see it. Error(nil, ...) is nil.
func Error(err error, raws ...string) error {
	if err == nil {
		return nil
	}
	msg := String(err.Error(), raws...)
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// String masks s as Error masks an error's message.
func String(s string, raws ...string) string {
	for _, raw := range raws {
		if raw == "" {
			continue
		}
		s = strings.ReplaceAll(s, raw, URL(raw))
		if pw, _, _, ok := password(raw); ok && pw != "" {
			s = strings.ReplaceAll(s, pw, Mask)
			s = maskQuotedFragments(s, pw)
		}
	}
	return Text(s)
}

var quotedRE = regexp.MustCompile(`"[^"]{2,}"`)

func maskQuotedFragments(s, pw string) string {
	return quotedRE.ReplaceAllStringFunc(s, func(q string) string {
		if strings.Contains(pw, q[1:len(q)-1]) {
			return `"` + Mask + `"`
		}
		return q
	})
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Settings returns a JSON object's text with the values of secret-like
// fields (at any depth) replaced by Mask and every URL-valued string
// masked, for logs and errors. Text that is not a JSON object is returned
// with its URLs masked.
func Settings(settings []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(settings))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []byte(Text(string(settings)))
	}
	v = maskValue("", v)
	out, err := json.Marshal(v)
	if err != nil {
		return []byte(Text(string(settings)))
	}
	return out
}

func maskValue(name string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = maskValue(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = maskValue(name, e)
		}
		return x
	case string:
		if name != "" && IsSecretName(name) && x != "" {
			return Mask
		}
		return URL(x)
	default:
		if name != "" && IsSecretName(name) {
			return Mask
		}
		return x
	}
}
