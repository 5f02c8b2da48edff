package nats

import (
	"errors"
	"strings"
)

// A record's key is split at each '/' and every part escaped into one
// key-value key token by escapeToken; the tokens are joined with '.'. So
// "users/42/name" is stored under the key "users.42.name", and "a b/" under
// "a=20b.=".

// escapeToken turns s into a token of a key-value key: ASCII letters,
// digits, '-' and '_' stay; every other byte becomes '=' and two upper-case
// hex digits; the empty string becomes "=" alone.
func escapeToken(s string) string {
	if s == "" {
		return "="
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func keep(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

var errBadToken = errors.New("nats: key token not made by escapeToken")

// unescapeToken reverses escapeToken; it accepts only what escapeToken
// makes.
func unescapeToken(t string) (string, error) {
	if t == "=" {
		return "", nil
	}
	if t == "" {
		return "", errBadToken
	}
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		if c != '=' || i+2 >= len(t) {
			return "", errBadToken
		}
		hi, lo := unhex(t[i+1]), unhex(t[i+2])
		if hi < 0 || lo < 0 {
			return "", errBadToken
		}
		v := byte(hi<<4 | lo)
		if keep(v) {
			return "", errBadToken // escapeToken keeps this byte as it is
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

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
		b.WriteString(escapeToken(part))
	}
	return b.String()
}

// decodeKey reverses encodeKey; it accepts only what encodeKey makes.
func decodeKey(kvKey string) (string, error) {
	var b strings.Builder
	b.Grow(len(kvKey))
	for i, tok := range strings.Split(kvKey, ".") {
		part, err := unescapeToken(tok)
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
