package nats

import (
	"strings"

	"github.com/seedmicro/micro/plugins/internal/natskv"
)

// A record's key is split at each '/' and every part escaped into one
// key-value key token by natskv.EscapeToken; the tokens are joined with '.'. So
// "users/42/name" is stored under the key "users.42.name", and "a b/" under
// "a=20b.=".

// maxSubject bounds the subject of a key, well within the server's default
// max_control_line of 4 KiB.
const maxSubject = 3072

// encodeKey returns the key-value key of a record key.
func encodeKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i, part := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(natskv.EscapeToken(part))
	}
	return b.String()
}

// decodeKey reverses encodeKey; it accepts only what encodeKey makes.
func decodeKey(kvKey string) (string, error) {
	var b strings.Builder
	b.Grow(len(kvKey))
	for i, tok := range strings.Split(kvKey, ".") {
		part, err := natskv.UnescapeToken(tok)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(part)
	}
	return b.String(), nil
}

// listFilter returns the key filter that holds every key starting with
// prefix: the tokens of the parts of prefix before its last '/', then ">".
// The caller still checks each key against prefix.
func listFilter(prefix string) string {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return ">"
	}
	return encodeKey(prefix[:i]) + ".>"
}
