package nats

import (
	"strings"

	"github.com/seedmicro/micro/plugins/internal/natskv"
)

// A node is stored under the key "<name>.<version>.<node ID>", each part
// escaped into one key token by natskv.EscapeToken.

// nodeKey returns the key of a node.
func nodeKey(name, version, id string) string {
	return natskv.EscapeToken(name) + "." + natskv.EscapeToken(version) + "." + natskv.EscapeToken(id)
}

// serviceFilter returns the key filter of every node of a service.
func serviceFilter(name string) string { return natskv.EscapeToken(name) + ".>" }

// parseKey splits a node key into name, version and node ID.
func parseKey(key string) (name, version, id string, err error) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return "", "", "", natskv.ErrBadToken
	}
	out := make([]string, 3)
	for i, p := range parts {
		if out[i], err = natskv.UnescapeToken(p); err != nil {
			return "", "", "", err
		}
	}
	return out[0], out[1], out[2], nil
}
