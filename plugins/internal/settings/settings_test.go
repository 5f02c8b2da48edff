package settings

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"1m30s"`: 90 * time.Second, `12`: 12, `"0s"`: 0, `-5`: -5} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{`"x"`, `true`, `1.5`, `{}`} {
		d := Duration(7)
		if err := json.Unmarshal([]byte(in), &d); err == nil || d != 7 {
			t.Errorf("Unmarshal(%s) = %v, %v; want an error and no change", in, d, err)
		}
	}
	if out, err := json.Marshal(Duration(90 * time.Second)); err != nil || string(out) != `"1m30s"` {
		t.Errorf("Marshal = %s, %v", out, err)
	}
}

func TestSetDefault(t *testing.T) {
	a, b := "", "x"
	SetDefault(&a, "d")
	SetDefault(&b, "d")
	if a != "d" || b != "x" {
		t.Errorf("SetDefault: %q %q", a, b)
	}
}
