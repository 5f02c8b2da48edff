package natskv

import "testing"

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
		if got := EscapeToken(tt.in); got != tt.want {
			t.Errorf("EscapeToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := UnescapeToken(tt.want); err != nil || back != tt.in {
			t.Errorf("UnescapeToken(%q) = %q, %v; want %q", tt.want, back, err, tt.in)
		}
	}
	for _, bad := range []string{"", "a.b", "=2", "=2g", "=2e", "=41", "a=", "a b", "=="} {
		if got, err := UnescapeToken(bad); err == nil {
			t.Errorf("UnescapeToken(%q) = %q, want an error", bad, got)
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
		tok := EscapeToken(s)
		if !validToken(tok) {
			t.Fatalf("EscapeToken(%q) = %q, not a valid key token", s, tok)
		}
		if back, err := UnescapeToken(tok); err != nil || back != s {
			t.Fatalf("UnescapeToken(EscapeToken(%q)) = %q, %v", s, back, err)
		}
		if v, err := UnescapeToken(s); err == nil && EscapeToken(v) != s {
			t.Fatalf("UnescapeToken(%q) = %q, which escapes to %q", s, v, EscapeToken(v))
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

func TestValidBucket(t *testing.T) {
	for s, want := range map[string]bool{"micro_store": true, "A-z_09": true, "": false, "a.b": false, "a b": false, "é": false} {
		if got := ValidBucket(s); got != want {
			t.Errorf("ValidBucket(%q) = %v, want %v", s, got, want)
		}
	}
}
