package nats

import (
	"strings"
	"testing"

	"github.com/seedmicro/micro/plugins/internal/natskv"
)

func TestEncodeKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"users/42/name", "users.42.name"},
		{"a b/", "a=20b.="},
		{"/", "=.="},
		{"//x", "=.=.x"},
		{"v1.0:x", "v1=2E0=3Ax"},
	}
	for _, tt := range tests {
		if got := encodeKey(tt.in); got != tt.want {
			t.Errorf("encodeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := decodeKey(tt.want); err != nil || back != tt.in {
			t.Errorf("decodeKey(%q) = %q, %v", tt.want, back, err)
		}
	}
	filters := []struct{ prefix, want string }{
		{"", ">"},
		{"abc", ">"},
		{"a/", "a.>"},
		{"a/b/c", "a.b.>"},
		{"/", "=.>"},
	}
	for _, tt := range filters {
		if got := listFilter(tt.prefix); got != tt.want {
			t.Errorf("listFilter(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}

// FuzzKey checks that a key round-trips, that its encoding is a valid
// key-value key under the filter List uses for every prefix of it, and that
// decoding, which reads keys written by anyone, never panics and accepts
// only what encoding makes.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"a", "users/42/name", "//double//", "ünï/键/🔑", "=", "a.b", "x*1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := encodeKey(s)
		for tok := range strings.SplitSeq(k, ".") {
			if !validToken(tok) {
				t.Fatalf("encodeKey(%q) = %q has an invalid token %q", s, k, tok)
			}
		}
		if back, err := decodeKey(k); err != nil || back != s {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", s, back, err)
		}
		for i := 0; i <= len(s); i++ {
			if f := listFilter(s[:i]); !matches(f, k) {
				t.Fatalf("listFilter(%q) = %q does not match %q, the key of %q", s[:i], f, k, s)
			}
		}
		if v, err := decodeKey(s); err == nil && encodeKey(v) != s {
			t.Fatalf("decodeKey(%q) = %q, which encodes to %q", s, v, encodeKey(v))
		}
	})
}

// matches reports whether subject matches filter, whose only wildcard is a
// final ">".
func matches(filter, subject string) bool {
	if filter == ">" {
		return true
	}
	p := strings.TrimSuffix(filter, ">")
	return strings.HasPrefix(subject, p) && len(subject) > len(p)
}

// validToken reports whether s is a valid token of a key-value key: the
// characters of a bucket name and '='.
func validToken(s string) bool {
	return natskv.ValidBucket(strings.ReplaceAll(s, "=", "_"))
}
