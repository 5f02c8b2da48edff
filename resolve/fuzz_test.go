package resolve_test

import (
	"encoding/json"
	"testing"

	"github.com/seedmicro/micro/resolve"
)

// FuzzParse: a config file never panics the parser, and what it accepts
// has settings that are JSON objects and survives a round trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"broker": {"name": "rabbitmq", "address": "amqp://x", "settings": {"prefetch": 3}}, "plugin_dir": "/p"}`,
		`{"registry": {"settings": null}}`,
		`{"store": {"settings": [1]}}`,
		`{"broker": {"nme": 1}}`,
		`{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := resolve.Parse(data)
		if err != nil {
			return
		}
		for _, c := range []resolve.Component{cfg.Registry, cfg.Broker, cfg.Store} {
			if len(c.Settings) > 0 && string(c.Settings) != "null" {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(c.Settings, &m); err != nil {
					t.Fatalf("accepted settings %q that are not an object: %v", c.Settings, err)
				}
			}
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := resolve.Parse(out); err != nil {
			t.Fatalf("a parsed config does not parse again: %v\n%s", err, out)
		}
	})
}
