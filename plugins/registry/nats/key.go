package nats

import (
	"errors"
	"strings"
)

// A node is stored under the key "<name>.<version>.<node ID>", each part
// escaped into one key token by escapeToken.

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

// nodeKey returns the key of a node.
func nodeKey(name, version, id string) string {
	return escapeToken(name) + "." + escapeToken(version) + "." + escapeToken(id)
}

// serviceFilter returns the key filter of every node of a service.
func serviceFilter(name string) string { return escapeToken(name) + ".>" }

// parseKey splits a node key into name, version and node ID.
func parseKey(key string) (name, version, id string, err error) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return "", "", "", errBadToken
	}
	out := make([]string, 3)
	for i, p := range parts {
		if out[i], err = unescapeToken(p); err != nil {
			return "", "", "", err
		}
	}
	return out[0], out[1], out[2], nil
}
