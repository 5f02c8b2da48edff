package catalog_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	brokernats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
	brokerredis "github.com/seedmicro/micro/plugins/broker/redis"
	registrynats "github.com/seedmicro/micro/plugins/registry/nats"
	registryredis "github.com/seedmicro/micro/plugins/registry/redis"
	storenats "github.com/seedmicro/micro/plugins/store/nats"
	storeredis "github.com/seedmicro/micro/plugins/store/redis"

	"github.com/seedmicro/micro/internal/catalog"
)

// The settings the built-in catalog lists for a plugin are the JSON fields of
// the Config its binary decodes strictly: the same names, types the catalog
// spells as the Go types, and defaults that decode into the field.
func TestSettingsMatchPluginConfigs(t *testing.T) {
	configs := map[string]any{
		"broker/rabbitmq": rabbitmq.Config{},
		"broker/redis":    brokerredis.Config{},
		"broker/nats":     brokernats.Config{},
		"registry/nats":   registrynats.Config{},
		"registry/redis":  registryredis.Config{},
		"store/nats":      storenats.Config{},
		"store/redis":     storeredis.Config{},
	}
	set, err := catalog.NewSet(catalog.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			e, err := set.Lookup(catalog.Ref{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			settings := e.Plugin.Latest().Settings
			typ := reflect.TypeOf(cfg)
			var fields []string
			for _, f := range jsonFields(typ) {
				tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if tag == "" || tag == "-" || !f.IsExported() {
					continue
				}
				fields = append(fields, tag)
				i := slices.IndexFunc(settings, func(s catalog.Setting) bool { return s.Name == tag })
				if i < 0 {
					t.Errorf("Config.%s (%q) is not a setting of catalog.json", f.Name, tag)
					continue
				}
				s := settings[i]
				if want := settingType(f.Type); s.Type != want {
					t.Errorf("setting %s: type %s, want %s (Config.%s is %v)", tag, s.Type, want, f.Name, f.Type)
				}
				if len(s.Default) > 0 {
					if err := json.Unmarshal(s.Default, reflect.New(f.Type).Interface()); err != nil {
						t.Errorf("setting %s: default %s does not decode into Config.%s: %v", tag, s.Default, f.Name, err)
					}
				}
			}
			for _, s := range settings {
				if !slices.Contains(fields, s.Name) {
					t.Errorf("setting %s of catalog.json is not a field of %v: the plugin would reject it", s.Name, typ)
				}
			}
		})
	}
}

// jsonFields returns the fields of the struct type t as encoding/json sees
// them: those of an embedded struct without a JSON name stand for
// themselves.
func jsonFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		out = append(out, f)
	}
	return out
}

func settingType(t reflect.Type) string {
	if t.Name() == "Duration" {
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Bool:
		return "bool"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "[]string"
		}
	}
	return t.String()
}
