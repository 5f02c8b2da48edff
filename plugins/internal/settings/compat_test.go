package settings_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/plugin"
	brokernats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
	brokerredis "github.com/seedmicro/micro/plugins/broker/redis"
	registrynats "github.com/seedmicro/micro/plugins/registry/nats"
	registryredis "github.com/seedmicro/micro/plugins/registry/redis"
	storenats "github.com/seedmicro/micro/plugins/store/nats"
	storeredis "github.com/seedmicro/micro/plugins/store/redis"
)

// jsonNames returns the JSON names of the fields of struct type t, those of
// embedded structs in their place.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		out = append(out, name)
	}
	return out
}

const natsConnection = "url name user password token creds_file tls_ca_file tls_cert_file tls_key_file reconnect_wait "

// The settings of every plugin keep the names and order they had before the
// NATS and Redis Configs embedded their shared connection settings.
func TestConfigJSONNamesUnchanged(t *testing.T) {
	tests := []struct {
		name string
		cfg  any
		want string
	}{
		{"broker/nats", brokernats.Config{}, natsConnection + "mode subject_prefix stream stream_max_age stream_max_bytes stream_storage stream_replicas duplicate_window ack_wait nak_delay max_deliver dead_letter_topic max_ack_pending prefetch inactive_threshold publish_timeout"},
		{"broker/rabbitmq", rabbitmq.Config{}, "url connection_name exchange prefetch max_deliveries heartbeat dial_timeout reconnect_min reconnect_max"},
		{"broker/redis", brokerredis.Config{}, "url prefix max_len prefetch block min_idle claim_interval redelivery_delay max_deliveries reap_after"},
		{"registry/nats", registrynats.Config{}, natsConnection + "bucket storage replicas watch_queue"},
		{"registry/redis", registryredis.Config{}, "url prefix sweep_interval resync_interval"},
		{"store/nats", storenats.Config{}, natsConnection + "bucket storage replicas sweep_interval"},
		{"store/redis", storeredis.Config{}, "url prefix scan_count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(jsonNames(reflect.TypeOf(tt.cfg)), " "); got != tt.want {
				t.Errorf("settings\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// Settings written for the flat Configs decode, strictly, into the Configs
// with embedded connection settings, and encode back to the same names; a
// misspelt connection field is still refused by name.
func TestEmbeddedConnectionSettingsDecodeStrictly(t *testing.T) {
	t.Run("nats", func(t *testing.T) {
		raw := `{"url": "nats://a:4222", "name": "n", "user": "u", "password": "p", "token": "tk", "reconnect_wait": "1s", "bucket": "b"}`
		var cfg registrynats.Config
		if err := plugin.DecodeSettings([]byte(raw), &cfg); err != nil {
			t.Fatal(err)
		}
		want := registrynats.Connection{URL: "nats://a:4222", Name: "n", User: "u", Password: "p", Token: "tk", ReconnectWait: registrynats.Duration(time.Second)}
		if cfg.Connection != want || cfg.Bucket != "b" {
			t.Errorf("decoded %+v", cfg)
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		json.Unmarshal(out, &back)
		for _, k := range []string{"url", "name", "user", "password", "token", "reconnect_wait", "bucket"} {
			if _, ok := back[k]; !ok {
				t.Errorf("encoded %s has no %q", out, k)
			}
		}
		err = plugin.DecodeSettings([]byte(`{"url": "nats://a:4222", "pasword": "p"}`), &cfg)
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "pasword" || !strings.Contains(se.Reason, "password") {
			t.Errorf("misspelt field: %v, want a *SettingsError naming it and listing password", err)
		}
	})
	t.Run("redis", func(t *testing.T) {
		var cfg storeredis.Config
		if err := plugin.DecodeSettings([]byte(`{"url": "redis://h:6379/1", "prefix": "p:"}`), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.URL != "redis://h:6379/1" || cfg.Prefix != "p:" {
			t.Errorf("decoded %+v", cfg)
		}
		err := plugin.DecodeSettings([]byte(`{"uri": "redis://h:6379/1"}`), &cfg)
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "uri" || !strings.Contains(se.Reason, "url") {
			t.Errorf("misspelt field: %v, want a *SettingsError naming it and listing url", err)
		}
	})
}
