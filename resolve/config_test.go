package resolve_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/resolve"
)

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "micro.json")
	os.WriteFile(file, []byte(`{
		"broker": {"name": "file-broker", "address": "amqp://file", "settings": {"prefetch": 1}},
		"registry": {"name": "file-registry"},
		"store": {"name": "file-store", "address": "redis://file"},
		"plugin_dir": "/file/plugins"
	}`), 0o644)
	env := map[string]string{
		"MICRO_CONFIG":         file,
		"MICRO_BROKER":         "env-broker",
		"MICRO_STORE_ADDRESS":  "redis://env",
		"MICRO_STORE_SETTINGS": `{"db": 2}`,
	}
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	f := resolve.RegisterFlags(fs)
	if err := fs.Parse([]string{"--broker", "rabbitmq", "--broker-address", "amqp://flag", "--plugin-dir", "/flag/plugins"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Config(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	checks := []struct{ what, got, want string }{
		{"broker", cfg.Broker.Name, "rabbitmq"},                             // flag over env over file
		{"broker address", cfg.Broker.Address, "amqp://flag"},               // flag over file
		{"broker settings", string(cfg.Broker.Settings), `{"prefetch": 1}`}, // file
		{"registry", cfg.Registry.Name, "file-registry"},
		{"store", cfg.Store.Name, "file-store"},
		{"store address", cfg.Store.Address, "redis://env"}, // env over file
		{"store settings", string(cfg.Store.Settings), `{"db": 2}`},
		{"plugin dir", cfg.PluginDir, "/flag/plugins"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown field", []string{"--config", write("a.json", `{"broker": {"nme": "x"}}`)}, nil, `unknown field "nme"`},
		{"settings not an object", []string{"--config", write("b.json", `{"broker": {"settings": [1]}}`)}, nil, "broker settings: want a JSON object"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.json")}, nil, "no such file"},
		{"bad flag settings", []string{"--broker-settings", "{"}, nil, "--broker-settings: want a JSON object"},
		{"bad env settings", nil, map[string]string{"MICRO_STORE_SETTINGS": "1"}, "$MICRO_STORE_SETTINGS: want a JSON object"},
		{"trailing data", []string{"--config", write("c.json", `{} {}`)}, nil, "more than one JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("svc", flag.ContinueOnError)
			f := resolve.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			_, err := f.Config(func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Config = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	f := resolve.RegisterFlags(fs)
	fs.Parse(nil)
	cfg, err := f.Config(func(string) string { return "" })
	if err != nil || cfg.Broker.Name != "" || cfg.Registry.Name != "" || cfg.Store.Name != "" {
		t.Errorf("Config with nothing = %+v, %v; want the zero Config (the defaults)", cfg, err)
	}
}
