package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, s := range []string{
		``, ` `, `{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`,
		`[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[`, `]`, `{`, `}`, `[}`, `{]`, `[[[]]]`, `[[[]]`,
		`"x"`, `"x`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\uD83D"`, `"\u00g0"`, `"\u00e"`, `"\x"`, `"\`, "\"\x01\"", "\"\x7f\xff\"",
		`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.5e10`, `+1`, `1x`, `0x10`,
		`true`, `tru`, `truex`, `false`, `null`, `nul`, `nulll`, `True`, `1 2`, `{} {}`, `{"a":[1,{"b":null}],"c":"d"}`,
		deep(maxNesting), deep(maxNesting + 1), "\t\r\n1\n",
	} {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

// FuzzValidJSON checks that validJSON agrees with json.Valid on any input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"name":"Ada","n":[1,-2.5e3,true,false,null],"o":{}}`, `[1,`, `"\u12`, `{"a":}`, ` 0 `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	data := []byte(`{"id":1,"text":"` + strings.Repeat("x", 1000) + `"}`)
	b.Run("validJSON", func(b *testing.B) {
		for b.Loop() {
			validJSON(data)
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		for b.Loop() {
			json.Valid(data)
		}
	})
}
