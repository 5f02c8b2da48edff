package plugin_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
)

type tlsSettings struct {
	CA   string `json:"ca"`
	Port int    `json:"port"`
}

type embedded struct {
	Region string `json:"region"`
}

type decodeTarget struct {
	embedded
	Address  string                 `json:"address"`
	Queue    int                    `json:"queue"`
	TLS      *tlsSettings           `json:"tls"`
	Peers    []tlsSettings          `json:"peers"`
	ByName   map[string]tlsSettings `json:"by_name"`
	Skipped  string                 `json:"-"`
	Untagged bool
}

func TestDecodeSettings(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		field string // "" for no error
		want  string // in the error message
		check func(t *testing.T, got *decodeTarget)
	}{
		{name: "empty", raw: ""},
		{name: "white space", raw: " \n\t"},
		{name: "null", raw: "null"},
		{name: "empty object", raw: "{}"},
		{name: "fields", raw: `{"address": "amqp://x", "queue": 3, "tls": {"ca": "ca.pem"}, "region": "eu", "Untagged": true}`,
			check: func(t *testing.T, got *decodeTarget) {
				if got.Address != "amqp://x" || got.Queue != 3 || got.TLS == nil || got.TLS.CA != "ca.pem" || got.Region != "eu" || !got.Untagged {
					t.Errorf("decoded %+v", got)
				}
			}},
		{name: "field names ignore case", raw: `{"ADDRESS": "x"}`,
			check: func(t *testing.T, got *decodeTarget) {
				if got.Address != "x" {
					t.Errorf("Address = %q", got.Address)
				}
			}},
		{name: "unknown field", raw: `{"adress": "x"}`, field: "adress",
			want: `plugin settings: field "adress": unknown field (known fields: Untagged, address, by_name, peers, queue, region, tls)`},
		{name: "unknown nested field", raw: `{"tls": {"ca": "x", "cert": "y"}}`, field: "tls.cert",
			want: `field "tls.cert": unknown field (known fields: ca, port)`},
		{name: "unknown field in a list", raw: `{"peers": [{"ca": "x"}, {"prot": 1}]}`, field: "peers[1].prot"},
		{name: "unknown field in a map", raw: `{"by_name": {"a": {"porrt": 1}}}`, field: "by_name.a.porrt"},
		{name: "ignored field", raw: `{"Skipped": "x"}`, field: "Skipped"},
		{name: "wrong type", raw: `{"queue": "many"}`, field: "queue", want: `field "queue": want int, got string`},
		{name: "wrong nested type", raw: `{"tls": {"port": true}}`, field: "tls.port"},
		{name: "not an object", raw: `[1, 2]`, want: "plugin settings: want a JSON object, got array"},
		{name: "syntax", raw: `{"queue": 1,}`, want: "plugin settings: invalid JSON at byte"},
		{name: "truncated", raw: `{"queue": 1`, want: "plugin settings: invalid JSON: unexpected end"},
		{name: "two documents", raw: `{} {}`, want: "plugin settings: invalid JSON: more than one value"},
		{name: "trailing garbage", raw: `{"queue": 1} x`, want: "plugin settings: invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got decodeTarget
			err := plugin.DecodeSettings([]byte(tt.raw), &got)
			wantErr := tt.field != "" || tt.want != ""
			if !wantErr {
				if err != nil {
					t.Fatalf("DecodeSettings(%s): %v", tt.raw, err)
				}
				if tt.check != nil {
					tt.check(t, &got)
				}
				return
			}
			var se *plugin.SettingsError
			if !errors.As(err, &se) {
				t.Fatalf("DecodeSettings(%s) = %v, want a *SettingsError", tt.raw, err)
			}
			if se.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", se.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSettingsThroughTheBridge(t *testing.T) {
	tests := []struct {
		name     string
		serve    string
		settings string
		field    string // of the *SettingsError; "" for another error
		want     string // in the error message; "" for no error
	}{
		{"accepted", "configured-broker", `{"required": "yes", "queue_size": 8, "tls": {"port": 1}}`, "", ""},
		{"unknown field", "configured-broker", `{"required": "yes", "queue_sise": 8}`, "queue_sise",
			`settings: field "queue_sise": unknown field (known fields: max_deliveries, queue_size, required, tls)`},
		{"unknown nested field", "configured-broker", `{"required": "yes", "tls": {"key": "k"}}`, "tls.key", `field "tls.key": unknown field`},
		{"wrong type", "configured-broker", `{"required": 1}`, "required", `field "required": want string, got number`},
		{"rejected by the plugin", "configured-broker", `{}`, "required", `field "required": missing; set it to anything`},
		{"failed", "configured-broker", `{"required": "fail"}`, "", "configure: cannot reach the broker at fail:1234"},
		{"fixed instance takes none", "broker", `{"address": "x"}`, "address", `field "address": unknown field`},
		{"fixed instance, empty", "broker", `{}`, "", ""},
	}
	for _, mode := range []struct {
		name string
		open func(t *testing.T, serve string, opts ...plugin.Option) (*plugin.Client, error)
	}{
		{"in-process", connect},
		{"child-process", func(t *testing.T, serve string, opts ...plugin.Option) (*plugin.Client, error) {
			return openChild(t, plugin.KindBroker, serve, opts...)
		}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c, err := mode.open(t, tt.serve, plugin.WithSettings([]byte(tt.settings)), plugin.WithName("broker/test"))
					if tt.want == "" {
						if err != nil {
							t.Fatalf("Open: %v", err)
						}
						if c.Broker() == nil {
							t.Fatal("Broker() = nil")
						}
						return
					}
					if err == nil {
						t.Fatalf("Open succeeded, want an error containing %q", tt.want)
					}
					if !strings.Contains(err.Error(), tt.want) {
						t.Errorf("error = %q, want it to contain %q", err, tt.want)
					}
					var se *plugin.SettingsError
					if tt.field == "" {
						if errors.As(err, &se) {
							t.Errorf("error %v is a *SettingsError", err)
						}
						return
					}
					if !errors.As(err, &se) {
						t.Fatalf("error %v (%T) is not a *SettingsError", err, err)
					}
					if se.Field != tt.field || se.Plugin != "broker/test" {
						t.Errorf("SettingsError = %+v, want field %q of plugin broker/test", se, tt.field)
					}
					if !strings.HasPrefix(err.Error(), "plugin broker/test settings: ") {
						t.Errorf("error = %q, want it to start with the plugin's name", err)
					}
				})
			}
		})
	}
}

func ExampleDecodeSettings() {
	type Config struct {
		Address string `json:"address"`
		Queue   string `json:"queue"`
	}
	var cfg Config
	err := plugin.DecodeSettings([]byte(`{"adress": "amqp://localhost"}`), &cfg)
	fmt.Println(err)
	// Output:
	// plugin settings: field "adress": unknown field (known fields: address, queue)
}

// FuzzDecodeSettings checks that settings from outside never panic the
// decoder and that every error names what is wrong as a *SettingsError.
func FuzzDecodeSettings(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `{"address":"x","queue":1}`, `{"adress":1}`, `{"tls":{"ca":"x","cert":1}}`,
		`{"peers":[{"ca":"x"},{"prot":1}]}`, `{"by_name":{"a":{"porrt":1}}}`, `[1]`, `{"queue":"x"}`, `{} {}`, `{"queue":1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v decodeTarget
		err := plugin.DecodeSettings(raw, &v)
		var se *plugin.SettingsError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("DecodeSettings(%q) = %v (%T), want a *SettingsError", raw, err, err)
		}
	})
}
