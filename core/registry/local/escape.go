package local

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxSegment bounds the length of an escaped path segment, leaving room for
// the ".json" suffix and temporary-file decorations within the 255-byte limit
// of common file systems.
const maxSegment = 160

// escape turns a service name, version or node ID into one path segment.
//
// Only ASCII lower-case letters, digits, '-', '_' and non-leading '.' are
// kept; every other byte becomes %XX with upper-case hex. So the result never
// holds a separator, is never "." or "..", never starts with '.' (which marks
// temporary files), and two names that differ only in case stay apart on
// case-insensitive file systems. The empty string becomes "%", which escaping
// cannot otherwise produce. Segments longer than maxSegment are shortened to
// a prefix plus '~' and a hash of the whole name; '~' is never kept, so
// these cannot collide with unshortened ones. Readers check a file's content
// against its path, so the mapping need not be reversible.
func escape(s string) string {
	if s == "" {
		return "%"
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	out := b.String()
	if len(out) > maxSegment {
		sum := sha256.Sum256([]byte(s))
		out = out[:maxSegment-33] + "~" + hex.EncodeToString(sum[:16])
	}
	return out
}
