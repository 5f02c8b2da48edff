package nats

import (
	"strings"
	"testing"
)

func TestEscapeToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "="},
		{"greeter", "greeter"},
		{"Greeter_v-2", "Greeter_v-2"},
		{"1.0.0", "1=2E0=2E0"},
		{"a b/c", "a=20b=2Fc"},
		{"=", "=3D"},
		{"*>", "=2A=3E"},
		{"é", "=C3=A9"},
	}
	for _, tt := range tests {
		if got := escapeToken(tt.in); got != tt.want {
			t.Errorf("escapeToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := unescapeToken(tt.want); err != nil || back != tt.in {
			t.Errorf("unescapeToken(%q) = %q, %v; want %q", tt.want, back, err, tt.in)
		}
	}
	for _, bad := range []string{"", "a.b", "=2", "=2g", "=2e", "=41", "a=", "a b", "=="} {
		if got, err := unescapeToken(bad); err == nil {
			t.Errorf("unescapeToken(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNodeKey(t *testing.T) {
	key := nodeKey("go.micro.greeter", "1.0.0", "node-1")
	if key != "go=2Emicro=2Egreeter.1=2E0=2E0.node-1" {
		t.Errorf("nodeKey = %q", key)
	}
	name, version, id, err := parseKey(key)
	if err != nil || name != "go.micro.greeter" || version != "1.0.0" || id != "node-1" {
		t.Errorf("parseKey(%q) = %q %q %q %v", key, name, version, id, err)
	}
	if !strings.HasPrefix(key, strings.TrimSuffix(serviceFilter("go.micro.greeter"), ">")) {
		t.Errorf("serviceFilter does not cover %q", key)
	}
	for _, bad := range []string{"a.b", "a.b.c.d", "a..c", "a.b.c d"} {
		if _, _, _, err := parseKey(bad); err == nil {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}

// FuzzKeyToken checks that escaping round-trips and that unescaping, which
// reads keys written by anyone, never panics and accepts only what escaping
// makes.
func FuzzKeyToken(f *testing.F) {
	for _, s := range []string{"", "greeter", "1.0.0", "=", "=3D", "a b", "ünï", "=ZZ", "=2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := escapeToken(s)
		if !validToken(tok) {
			t.Fatalf("escapeToken(%q) = %q, not a valid key token", s, tok)
		}
		if back, err := unescapeToken(tok); err != nil || back != s {
			t.Fatalf("unescapeToken(escapeToken(%q)) = %q, %v", s, back, err)
		}
		if v, err := unescapeToken(s); err == nil && escapeToken(v) != s {
			t.Fatalf("unescapeToken(%q) = %q, which escapes to %q", s, v, escapeToken(v))
		}
	})
}

// validToken reports whether s is a valid token of a key-value key.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(keep(c) || c == '=') {
			return false
		}
	}
	return true
}
