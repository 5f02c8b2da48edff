package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/plugin/spec"
)

// Component names one component of a service, the implementation that
// serves it and how to reach it.
type Component struct {
	// Name is the implementation: one compiled into the service (see
	// Factories), else an installed plugin of the component's kind. It may
	// carry the kind: "rabbitmq" and "broker/rabbitmq" are the same broker.
	// Empty means the default (DefaultRegistry, DefaultBroker,
	// DefaultStore).
	Name string `json:"name,omitempty"`
	// Address is where the implementation's server is, such as
	// "amqp://rabbit:5672". Every implementation, compiled in or a plugin,
	// gets it as its "url" setting (URLSetting); giving both with
	// different values is an error.
	Address string `json:"address,omitempty"`
	// Settings is a JSON object of further settings, which the
	// implementation decodes strictly: a field it does not know is an
	// error that names it.
	Settings json.RawMessage `json:"settings,omitempty"`
}

// Config is a service's choice of registry, broker and store.
type Config struct {
	Registry Component `json:"registry,omitzero"`
	Broker   Component `json:"broker,omitzero"`
	Store    Component `json:"store,omitzero"`
	// PluginDir is where installed plugins are; empty means
	// plugin.DefaultDir ($MICRO_PLUGIN_DIR, else the user's data
	// directory).
	PluginDir string `json:"plugin_dir,omitempty"`
}

// The defaults: the embedded implementations, which need no server.
const (
	DefaultRegistry = "local"
	DefaultBroker   = "direct"
	DefaultStore    = "memory"
)

// EnvConfig names the environment variable with the path of a config file.
const EnvConfig = "MICRO_CONFIG"

// URLSetting is the setting by which a Component's address reaches its
// implementation.
const URLSetting = "url"

// FromEnv returns the configuration the environment gives, read with
// getenv (such as os.Getenv): the config file of $MICRO_CONFIG, overridden
// by the MICRO_* variables that are set ($MICRO_BROKER,
// $MICRO_BROKER_ADDRESS, ...; see Flags). It is what Flags.Config returns
// when no flag was given on the command line.
func FromEnv(getenv func(string) string) (Config, error) {
	return RegisterFlags(flag.NewFlagSet("env", flag.ContinueOnError)).Config(getenv)
}

// ReadFile reads a config file: a JSON document of a Config, decoded
// strictly (a field Config does not have is an error), for instance
//
//	{
//	  "broker": {"name": "rabbitmq", "address": "amqp://rabbit:5672", "settings": {"prefetch": 32}},
//	  "registry": {"name": "local"},
//	  "plugin_dir": "/opt/micro/plugins"
//	}
func ReadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config file: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a config file's content, as ReadFile does.
func Parse(data []byte) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, errors.New("more than one JSON value")
	}
	for _, c := range []struct {
		kind spec.Kind
		c    Component
	}{{spec.KindRegistry, cfg.Registry}, {spec.KindBroker, cfg.Broker}, {spec.KindStore, cfg.Store}} {
		if err := checkSettings(c.c.Settings); err != nil {
			return Config{}, fmt.Errorf("%s settings: %w", c.kind, err)
		}
	}
	return cfg, nil
}

// checkSettings checks that settings are empty or a JSON object.
func checkSettings(s []byte) error {
	s = bytes.TrimSpace(s)
	if len(s) == 0 || string(s) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(s, &m); err != nil {
		return fmt.Errorf("want a JSON object: %w", err)
	}
	return nil
}

// Flags are the command-line flags that configure a service's components,
// registered on a flag.FlagSet by RegisterFlags:
//
//	--config PATH                a config file (ReadFile); $MICRO_CONFIG
//	--registry NAME              $MICRO_REGISTRY
//	--registry-address ADDRESS   $MICRO_REGISTRY_ADDRESS
//	--registry-settings JSON     $MICRO_REGISTRY_SETTINGS
//	--broker NAME                $MICRO_BROKER
//	--broker-address ADDRESS     $MICRO_BROKER_ADDRESS
//	--broker-settings JSON       $MICRO_BROKER_SETTINGS
//	--store NAME                 $MICRO_STORE
//	--store-address ADDRESS      $MICRO_STORE_ADDRESS
//	--store-settings JSON        $MICRO_STORE_SETTINGS
//	--plugin-dir DIR             $MICRO_PLUGIN_DIR
//
// A flag given on the command line wins over its environment variable,
// which wins over the config file.
type Flags struct {
	fs     *flag.FlagSet
	config string
	vals   map[string]*string
}

// flagEnv maps each flag but --config to its environment variable.
var flagEnv = []struct{ flag, env, usage string }{
	{"registry", "MICRO_REGISTRY", "the registry: one compiled in (local, memory) or an installed plugin"},
	{"registry-address", "MICRO_REGISTRY_ADDRESS", "the registry's address"},
	{"registry-settings", "MICRO_REGISTRY_SETTINGS", "the registry's settings, a JSON object"},
	{"broker", "MICRO_BROKER", "the broker: one compiled in (direct, memory) or an installed plugin"},
	{"broker-address", "MICRO_BROKER_ADDRESS", "the broker's address, such as amqp://host:5672"},
	{"broker-settings", "MICRO_BROKER_SETTINGS", "the broker's settings, a JSON object"},
	{"store", "MICRO_STORE", "the store: one compiled in (memory) or an installed plugin"},
	{"store-address", "MICRO_STORE_ADDRESS", "the store's address"},
	{"store-settings", "MICRO_STORE_SETTINGS", "the store's settings, a JSON object"},
	{"plugin-dir", lock.EnvPluginDir, "the directory of installed plugins"},
}

// RegisterFlags registers the flags of Flags on fs. Call Flags.Config once
// fs is parsed.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, vals: make(map[string]*string)}
	fs.StringVar(&f.config, "config", "", "a JSON config file of the service's components (env "+EnvConfig+")")
	for _, fe := range flagEnv {
		f.vals[fe.flag] = fs.String(fe.flag, "", fe.usage+" (env "+fe.env+")")
	}
	return f
}

// Config returns the configuration: the config file of --config (else of
// $MICRO_CONFIG), overridden by the environment variables that are set
// (read with getenv, such as os.Getenv), overridden by the flags given on
// the command line.
func (f *Flags) Config(getenv func(string) string) (Config, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	var cfg Config
	path := getenv(EnvConfig)
	if set["config"] {
		path = f.config
	}
	if path != "" {
		var err error
		if cfg, err = ReadFile(path); err != nil {
			return Config{}, err
		}
	}
	for _, fe := range flagEnv {
		v, from := getenv(fe.env), "$"+fe.env
		if set[fe.flag] {
			v, from = *f.vals[fe.flag], "--"+fe.flag
		} else if v == "" {
			continue
		}
		kind, field, _ := strings.Cut(fe.flag, "-")
		var c *Component
		switch kind {
		case "registry":
			c = &cfg.Registry
		case "broker":
			c = &cfg.Broker
		case "store":
			c = &cfg.Store
		case "plugin":
			cfg.PluginDir = v
			continue
		}
		switch field {
		case "":
			c.Name = v
		case "address":
			c.Address = v
		case "settings":
			if err := checkSettings([]byte(v)); err != nil {
				return Config{}, fmt.Errorf("%s: %w", from, err)
			}
			c.Settings = json.RawMessage(v)
		}
	}
	return cfg, nil
}
