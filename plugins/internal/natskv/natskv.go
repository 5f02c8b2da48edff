// Package natskv escapes the parts of the keys that the NATS plugins store in
// a JetStream key-value bucket into key tokens, and checks bucket names.
package natskv

import (
	"errors"
	"strings"
)

// EscapeToken turns s into a token of a key-value key: ASCII letters,
// digits, '-' and '_' stay; every other byte becomes '=' and two upper-case
// hex digits; the empty string becomes "=" alone.
func EscapeToken(s string) string {
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

// ErrBadToken is the error of a key token that EscapeToken does not make.
var ErrBadToken = errors.New("nats: key token not made by escapeToken")

// UnescapeToken reverses EscapeToken; it accepts only what EscapeToken
// makes.
func UnescapeToken(t string) (string, error) {
	if t == "=" {
		return "", nil
	}
	if t == "" {
		return "", ErrBadToken
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
			return "", ErrBadToken
		}
		hi, lo := unhex(t[i+1]), unhex(t[i+2])
		if hi < 0 || lo < 0 {
			return "", ErrBadToken
		}
		v := byte(hi<<4 | lo)
		if keep(v) {
			return "", ErrBadToken // EscapeToken keeps this byte as it is
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

// ValidBucket reports whether s is a valid bucket name: not empty, and only
// ASCII letters, digits, '-' and '_'.
func ValidBucket(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			return false
		}
	}
	return true
}
