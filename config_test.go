package micro_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	brokermem "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/registry/memory"
	storemem "github.com/seedmicro/micro/core/store/memory"
	"github.com/seedmicro/micro/resolve"
)

// envServeBroker makes the test binary serve a broker plugin.
const envServeBroker = "MICRO_TEST_SERVE_BROKER"

// installBroker installs the test binary as the plugin broker/<name> in a
// new plugin directory, pinned in its lock file, and returns the directory.
func installBroker(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(dir, "micro-plugin-broker-"+name), os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	lock := &pluginlock.File{Format: pluginlock.Format}
	lock.Put(pluginlock.Plugin{Name: "broker/" + name, Version: "0.1.0", Source: "test",
		SHA256: map[string]string{pluginlock.Platform(): hex.EncodeToString(h.Sum(nil))}})
	if err := pluginlock.Write(filepath.Join(dir, pluginlock.FileName), lock); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envServeBroker, "1")
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return dir
}

// TestServiceOnAPluginBroker runs a service whose broker is an installed
// plugin, named by the --broker flag: an event goes from the client to the
// subscriber through the plugin process.
func TestServiceOnAPluginBroker(t *testing.T) {
	dir := installBroker(t, "fake")
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	flags := resolve.RegisterFlags(fs)
	if err := fs.Parse([]string{"--broker", "fake", "--registry", "memory", "--plugin-dir", dir}); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.Config(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r := resolve.New(resolve.WithWorkDir(t.TempDir()), resolve.WithLogger(slog.New(slog.DiscardHandler)))
	svc, err := micro.New("greeter", micro.WithConfig(cfg), micro.WithResolver(r), quiet())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, ok := svc.Broker().(*plugin.BrokerClient); !ok {
		t.Fatalf("broker %T, want the plugin's *plugin.BrokerClient", svc.Broker())
	}
	if _, ok := svc.Registry().(*memory.Registry); !ok {
		t.Errorf("registry %T, want the compiled-in memory registry", svc.Registry())
	}
	got := make(chan string, 1)
	if err := svc.Subscribe("said", func(ctx context.Context, r *Req) error { got <- r.Name; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := svc.Client().Publish(t.Context(), "said", &Req{Name: "ada"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case n := <-got:
		if n != "ada" {
			t.Errorf("event %q", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event through the plugin broker")
	}
	if err := svc.Stop(context.Background()); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := micro.New("svc", micro.WithConfig(resolve.Config{
		Registry:  resolve.Component{Name: "memory"},
		Broker:    resolve.Component{Name: "rabbitmq", Address: "amqp://x"},
		PluginDir: dir,
	}), quiet())
	var nf *resolve.NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "micro-new install broker/rabbitmq") {
		t.Errorf("New with a broker neither compiled in nor installed = %v, want an error naming micro-new install broker/rabbitmq", err)
	}
}

func TestGivenComponentsWin(t *testing.T) {
	b := brokermem.New()
	defer b.Close(context.Background())
	st := storemem.New()
	defer st.Close()
	svc, err := micro.New("svc", micro.WithBroker(b), micro.WithStore(st),
		micro.WithConfig(resolve.Config{Registry: resolve.Component{Name: "memory"}, Broker: resolve.Component{Name: "nope"}, Store: resolve.Component{Name: "nope"}}), quiet())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer svc.Close()
	if svc.Broker() != b || svc.Store() != st {
		t.Error("the given broker and store were not used")
	}
	if _, ok := svc.Registry().(*memory.Registry); !ok {
		t.Errorf("registry %T, want memory", svc.Registry())
	}
}

// TestNewReadsTheEnvironment is issue 13 item 2: which registry, broker
// and store the smallest service, micro.New(name), uses is configuration:
// MICRO_* variables and the config file of MICRO_CONFIG, unless
// WithoutEnv; WithFlags puts the flags over them, and WithConfig replaces
// them. Before, micro.New read no environment.
func TestNewReadsTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "micro.json")
	if err := os.WriteFile(file, []byte(`{"broker": {"name": "memory"}, "store": {"name": "memory"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	flagsWith := func(args ...string) *resolve.Flags {
		fs := flag.NewFlagSet("svc", flag.ContinueOnError)
		flags := resolve.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return flags
	}
	cases := []struct {
		name     string
		env      map[string]string
		opts     []micro.Option
		registry string // the registry's type
		broker   string
		wantErr  string
	}{
		{"nothing set: the embedded defaults", nil, nil, "*local.Registry", "*direct.Broker", ""},
		{"MICRO_REGISTRY and MICRO_BROKER", map[string]string{"MICRO_REGISTRY": "memory", "MICRO_BROKER": "memory"}, nil,
			"*memory.Registry", "*memory.Broker", ""},
		{"MICRO_CONFIG", map[string]string{resolve.EnvConfig: file}, nil, "*local.Registry", "*memory.Broker", ""},
		{"a variable over the file", map[string]string{resolve.EnvConfig: file, "MICRO_BROKER": "direct"}, nil,
			"*local.Registry", "*direct.Broker", ""},
		{"WithoutEnv", map[string]string{"MICRO_REGISTRY": "memory", "MICRO_BROKER": "nope"}, []micro.Option{micro.WithoutEnv()},
			"*local.Registry", "*direct.Broker", ""},
		{"WithFlags: a flag over the environment", map[string]string{"MICRO_REGISTRY": "memory", "MICRO_BROKER": "direct"},
			[]micro.Option{micro.WithFlags(flagsWith("--broker", "memory"))}, "*memory.Registry", "*memory.Broker", ""},
		{"WithFlags and WithoutEnv: the flags alone", map[string]string{"MICRO_REGISTRY": "memory"},
			[]micro.Option{micro.WithFlags(flagsWith("--broker", "memory")), micro.WithoutEnv()}, "*local.Registry", "*memory.Broker", ""},
		{"WithConfig replaces the environment", map[string]string{"MICRO_BROKER": "nope"},
			[]micro.Option{micro.WithConfig(resolve.Config{Registry: resolve.Component{Name: "memory"}})}, "*memory.Registry", "*direct.Broker", ""},
		{"bad settings name their variable", map[string]string{"MICRO_BROKER_SETTINGS": "[1]"}, nil, "", "", "$MICRO_BROKER_SETTINGS"},
		{"a missing config file is named", map[string]string{resolve.EnvConfig: file + ".missing"}, nil, "", "", file + ".missing"},
		{"an unknown broker says what to do", map[string]string{"MICRO_BROKER": "rabbitmq", "MICRO_PLUGIN_DIR": t.TempDir()}, nil, "", "", "micro-new install broker/rabbitmq"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, v := range []string{"MICRO_REGISTRY", "MICRO_BROKER", "MICRO_STORE", "MICRO_BROKER_SETTINGS", resolve.EnvConfig} {
				t.Setenv(v, "")
			}
			t.Setenv(local.EnvDir, t.TempDir())
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			svc, err := micro.New("greeter", append([]micro.Option{quiet()}, c.opts...)...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("New = %v, want an error naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer svc.Close()
			if got := fmt.Sprintf("%T", svc.Registry()); got != c.registry {
				t.Errorf("registry %s, want %s", got, c.registry)
			}
			if got := fmt.Sprintf("%T", svc.Broker()); got != c.broker {
				t.Errorf("broker %s, want %s", got, c.broker)
			}
		})
	}
}

// TestPlainNewOnAnInstalledPlugin: MICRO_BROKER names an installed plugin,
// and micro.New with no option runs on it.
func TestPlainNewOnAnInstalledPlugin(t *testing.T) {
	dir := installBroker(t, "fake")
	t.Setenv(plugin.EnvPluginDir, dir)
	t.Setenv("MICRO_BROKER", "fake")
	t.Setenv("MICRO_REGISTRY", "memory")
	t.Chdir(t.TempDir()) // no project lock file above
	svc, err := micro.New("greeter", quiet())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer svc.Close()
	if _, ok := svc.Broker().(*plugin.BrokerClient); !ok {
		t.Fatalf("broker %T, want the plugin's *plugin.BrokerClient", svc.Broker())
	}
}
