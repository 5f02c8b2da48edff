package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/direct"
	brokermemory "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/resolve"
)

func TestFactories(t *testing.T) {
	f := resolve.NewFactories()
	want := map[plugin.Kind][]string{
		plugin.KindRegistry: {"local", "memory"},
		plugin.KindBroker:   {"direct", "memory"},
		plugin.KindStore:    {"memory"},
	}
	for kind, names := range want {
		if got := f.Names(kind); !slices.Equal(got, names) {
			t.Errorf("Names(%s) = %v, want %v", kind, got, names)
		}
	}
	f.RegisterBroker("zeta", func(context.Context, resolve.Params) (broker.Broker, error) { return brokermemory.New(), nil })
	f.RegisterBroker("alpha", func(context.Context, resolve.Params) (broker.Broker, error) { return brokermemory.New(), nil })
	if got := f.Names(plugin.KindBroker); !slices.Equal(got, []string{"alpha", "direct", "memory", "zeta"}) {
		t.Errorf("Names(broker) = %v, want them sorted", got)
	}
	// Each factory set is its own: nothing is registered globally.
	if got := resolve.NewFactories().Names(plugin.KindBroker); len(got) != 2 {
		t.Errorf("a new Factories has %v", got)
	}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	nop := func(context.Context, resolve.Params) (broker.Broker, error) { return nil, nil }
	mustPanic("a duplicate", func() { f.RegisterBroker("memory", nop) })
	mustPanic("an invalid name", func() { f.RegisterBroker("Rabbit MQ", nop) })
	mustPanic("a nil factory", func() { f.RegisterBroker("nil", nil) })
}

func TestBuiltIns(t *testing.T) {
	t.Setenv(local.EnvDir, t.TempDir())
	r := resolve.New(resolve.WithLogger(quiet), resolve.WithPluginDir(t.TempDir()))
	comps, err := r.Open(t.Context(), resolve.Config{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer comps.Close(context.Background())
	if _, ok := comps.Registry.(*local.Registry); !ok {
		t.Errorf("default registry %T, want *local.Registry", comps.Registry)
	}
	if _, ok := comps.Broker.(*direct.Broker); !ok {
		t.Errorf("default broker %T, want *direct.Broker", comps.Broker)
	}

	t.Run("settings", func(t *testing.T) {
		_, _, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "memory", Settings: []byte(`{"queue_sise": 3}`)}}, nil)
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Field != "queue_sise" {
			t.Errorf("Broker with a misspelt setting = %v, want a SettingsError naming it", err)
		}
		b, closeB, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "broker/memory", Settings: []byte(`{"queue_size": 3}`)}}, nil)
		if err != nil {
			t.Fatalf("Broker: %v", err)
		}
		closeB(t.Context())
		_ = b
	})
	t.Run("address", func(t *testing.T) {
		if _, _, err := r.Store(t.Context(), resolve.Config{Store: resolve.Component{Name: "memory", Address: "x:1"}}); err == nil || !strings.Contains(err.Error(), "takes no address") {
			t.Errorf("Store with an address = %v", err)
		}
	})
	t.Run("wrong kind", func(t *testing.T) {
		if _, _, err := r.Store(t.Context(), resolve.Config{Store: resolve.Component{Name: "broker/memory"}}); err == nil {
			t.Error("a store named broker/memory resolved")
		}
	})
}

// TestResolutionOrder: compiled in, else installed, else an error that says
// how to install it.
func TestResolutionOrder(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "broker/fake", true)
	serve(t, "broker")
	work := t.TempDir() // no project lock

	t.Run("compiled in wins", func(t *testing.T) {
		f := resolve.NewFactories()
		f.RegisterBroker("fake", func(context.Context, resolve.Params) (broker.Broker, error) { return brokermemory.New(), nil })
		r := resolve.New(resolve.WithFactories(f), resolve.WithPluginDir(dir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
		b, closeB, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "fake"}}, nil)
		if err != nil {
			t.Fatalf("Broker: %v", err)
		}
		defer closeB(context.Background())
		if _, ok := b.(*brokermemory.Broker); !ok {
			t.Errorf("broker %T, want the compiled-in *memory.Broker", b)
		}
	})
	t.Run("installed next", func(t *testing.T) {
		r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
		b, closeB, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "fake"}}, nil)
		if err != nil {
			t.Fatalf("Broker: %v", err)
		}
		defer closeB(context.Background())
		if _, ok := b.(*plugin.BrokerClient); !ok {
			t.Fatalf("broker %T, want the plugin's *plugin.BrokerClient", b)
		}
		got := make(chan string, 1)
		if _, err := b.Subscribe(t.Context(), "t", func(_ context.Context, m *broker.Message) error {
			got <- string(m.Body)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != "hi" {
				t.Errorf("got %q", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery through the plugin")
		}
	})
	t.Run("missing", func(t *testing.T) {
		r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
		_, _, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "rabbitmq"}}, nil)
		var nf *resolve.NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("Broker = %v, want a *NotFoundError", err)
		}
		for _, want := range []string{"`micro-new install broker/rabbitmq`", "compiled in: direct, memory", "no micro-plugin-broker-rabbitmq in " + dir} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		t.Log(err)
	})
	t.Run("on disk but not pinned", func(t *testing.T) {
		install(t, dir, "broker/stray", false)
		r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
		_, _, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "stray"}}, nil)
		var nf *resolve.NotFoundError
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "does not pin it") || !strings.Contains(err.Error(), "micro-new install broker/stray") {
			t.Errorf("Broker = %v, want a *NotFoundError saying the lock does not pin it", err)
		}
	})
	// A lock with the BLAKE3 digest (as micro-new install writes it) is
	// checked with it; one from before BLAKE3, with the sha256.
	for _, withBLAKE3 := range []bool{true, false} {
		t.Run(fmt.Sprintf("tampered, BLAKE3 in the lock %v", withBLAKE3), func(t *testing.T) {
			tdir := t.TempDir()
			path, sum := install(t, tdir, "broker/fake", true)
			if !withBLAKE3 {
				pinIn(t, filepath.Join(tdir, pluginlock.FileName), "broker/fake", sum)
				r := resolve.New(resolve.WithPluginDir(tdir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
				_, closeB, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "fake"}}, nil)
				if err != nil {
					t.Fatalf("Broker, pinned by sha256 alone: %v", err)
				}
				closeB(context.Background())
			}
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt([]byte{0xff}, 4096)
			f.Close()
			marker := filepath.Join(t.TempDir(), "pid")
			t.Setenv(envMarker, marker)
			r := resolve.New(resolve.WithPluginDir(tdir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
			_, _, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "fake"}}, nil)
			if !errors.Is(err, plugin.ErrChecksumMismatch) {
				t.Errorf("Broker = %v, want ErrChecksumMismatch", err)
			}
			alg := map[bool]string{true: "BLAKE3", false: "SHA-256"}[withBLAKE3]
			if err != nil && !strings.Contains(err.Error(), "has the "+alg+" checksum") {
				t.Errorf("Broker = %v, want the %s checked", err, alg)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the tampered plugin ran")
			}
		})
	}
}

func TestProjectLock(t *testing.T) {
	dir := t.TempDir()
	_, sum := install(t, dir, "broker/fake", true)
	serve(t, "broker")
	project := t.TempDir()
	work := filepath.Join(project, "cmd", "svc")
	os.MkdirAll(work, 0o755)
	projectLock := filepath.Join(project, pluginlock.FileName)

	open := func(t *testing.T) error {
		t.Helper()
		r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(work), resolve.WithLogger(quiet))
		_, closeB, err := r.Broker(t.Context(), resolve.Config{Broker: resolve.Component{Name: "fake"}}, nil)
		if err == nil {
			closeB(context.Background())
		}
		return err
	}
	t.Run("same pin", func(t *testing.T) {
		pinIn(t, projectLock, "broker/fake", sum)
		if err := open(t); err != nil {
			t.Errorf("Broker = %v", err)
		}
	})
	t.Run("other plugins only", func(t *testing.T) {
		os.Remove(projectLock)
		pinIn(t, projectLock, "store/other", strings.Repeat("0", 64))
		if err := open(t); err != nil {
			t.Errorf("Broker = %v", err)
		}
	})
	t.Run("different pin", func(t *testing.T) {
		other := strings.Repeat("ab", 32)
		pinIn(t, projectLock, "broker/fake", other)
		marker := filepath.Join(t.TempDir(), "pid")
		t.Setenv(envMarker, marker)
		err := open(t)
		var pm *resolve.ProjectMismatchError
		if !errors.As(err, &pm) {
			t.Fatalf("Broker = %v, want a *ProjectMismatchError", err)
		}
		for _, want := range []string{"refusing to start", projectLock, other, sum, "run `micro-new install` in the project"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the plugin ran")
		}
		t.Log(err)
	})
}

func TestAddressIsTheURLSetting(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "store/urls", true)
	serve(t, "url-store")
	r := resolve.New(resolve.WithPluginDir(dir), resolve.WithWorkDir(t.TempDir()), resolve.WithLogger(quiet))
	read := func(t *testing.T, c resolve.Component) (map[string]string, error) {
		s, closeS, err := r.Store(t.Context(), resolve.Config{Store: c})
		if err != nil {
			return nil, err
		}
		defer closeS(context.Background())
		got := map[string]string{}
		for _, k := range []string{"url", "prefix"} {
			rec, err := s.Read(t.Context(), k)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = string(rec.Value)
		}
		return got, nil
	}
	got, err := read(t, resolve.Component{Name: "urls", Address: "redis://r:6379", Settings: []byte(`{"prefix": "p"}`)})
	if err != nil || got["url"] != "redis://r:6379" || got["prefix"] != "p" {
		t.Errorf("store = %v, %v; want the address as url and the prefix", got, err)
	}
	got, err = read(t, resolve.Component{Name: "urls", Settings: []byte(`{"url": "redis://s:1"}`)})
	if err != nil || got["url"] != "redis://s:1" {
		t.Errorf("store = %v, %v", got, err)
	}
	if _, err := read(t, resolve.Component{Name: "urls", Address: "redis://a:1", Settings: []byte(`{"url": "redis://b:1"}`)}); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("an address and a different url = %v, want an error", err)
	}
	var se *plugin.SettingsError
	if _, err := read(t, resolve.Component{Name: "urls"}); !errors.As(err, &se) || se.Field != "url" {
		t.Errorf("no address = %v, want the plugin's SettingsError", err)
	}
}

// TestDefaultDirAgrees: core/plugin does not import pluginlock, and has
// its own copy of the rule of the plugin directory.
func TestDefaultDirAgrees(t *testing.T) {
	for _, env := range []map[string]string{
		{plugin.EnvPluginDir: "/srv/plugins", "XDG_DATA_HOME": "/x", "HOME": "/h"},
		{plugin.EnvPluginDir: "rel/plugins"},
		{"XDG_DATA_HOME": "/x", "HOME": "/h"},
		{"XDG_DATA_HOME": "x", "HOME": "/h"},
		{"HOME": "/h"},
		{},
	} {
		for _, k := range []string{plugin.EnvPluginDir, "XDG_DATA_HOME", "HOME", "LocalAppData"} {
			t.Setenv(k, env[k])
		}
		got, gerr := plugin.DefaultDir()
		want, werr := pluginlock.DefaultDir()
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("with %v: plugin.DefaultDir = %q, %v; pluginlock.DefaultDir = %q, %v", env, got, gerr, want, werr)
		}
	}
	if plugin.EnvPluginDir != pluginlock.EnvPluginDir {
		t.Errorf("EnvPluginDir %q != %q", plugin.EnvPluginDir, pluginlock.EnvPluginDir)
	}
}
