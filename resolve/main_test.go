package resolve_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	brokermemory "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/store"
	storememory "github.com/seedmicro/micro/core/store/memory"
	"github.com/seedmicro/micro/internal/testkit"
)

// The test binary is also the plugins the tests install: with envServe
// set, TestMain serves the plugin it names.
const (
	envServe  = "MICRO_RESOLVE_TEST_SERVE"
	envMarker = "MICRO_RESOLVE_TEST_MARKER"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(envServe); name != "" {
		if marker := os.Getenv(envMarker); marker != "" {
			os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o600)
		}
		switch name {
		case "broker":
			plugin.Serve(plugin.Broker(brokermemory.New()))
		case "url-store":
			// A store that takes its address as "url", and answers it
			// as the value of the key "url".
			plugin.Serve(plugin.StoreFunc(func(ctx context.Context, cfg *struct {
				URL    string `json:"url"`
				Prefix string `json:"prefix"`
			}) (store.Store, error) {
				if cfg.URL == "" {
					return nil, &plugin.SettingsError{Field: "url", Reason: "missing"}
				}
				s := storememory.New()
				s.Write(ctx, &store.Record{Key: "url", Value: []byte(cfg.URL)})
				s.Write(ctx, &store.Record{Key: "prefix", Value: []byte(cfg.Prefix)})
				return s, nil
			}))
		case "echo-store":
			// A store that fails with an error quoting its url and
			// password settings, as a careless library would.
			plugin.Serve(plugin.StoreFunc(func(ctx context.Context, cfg *struct {
				URL      string `json:"url"`
				Password string `json:"password"`
			}) (store.Store, error) {
				return nil, fmt.Errorf("cannot reach %q (raw %s) with password %s", cfg.URL, cfg.URL, cfg.Password)
			}))
		default:
			fmt.Fprintf(os.Stderr, "no test plugin %q\n", name)
			os.Exit(2)
		}
		os.Exit(0)
	}
	testkit.Main(m, nil)
}

var quiet = slog.New(slog.DiscardHandler)

// install copies the test binary into dir as the plugin name and, unless
// pin is false, pins its checksum in dir's lock file. It returns the
// binary's path and checksum.
func install(t *testing.T, dir, name string, pin bool) (string, string) {
	t.Helper()
	bin, _ := plugin.BinaryName(name)
	path := filepath.Join(dir, bin)
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if pin {
		// As micro-new install records it: the sha256 and the BLAKE3.
		_, b3, err := pluginlock.HashFileBoth(path)
		if err != nil {
			t.Fatal(err)
		}
		pinIn(t, filepath.Join(dir, pluginlock.FileName), name, sum)
		lockPath := filepath.Join(dir, pluginlock.FileName)
		lock, err := pluginlock.Read(lockPath)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := lock.Get(name)
		p.BLAKE3 = map[string]string{pluginlock.Platform(): b3}
		lock.Put(p)
		if err := pluginlock.Write(lockPath, lock); err != nil {
			t.Fatal(err)
		}
	}
	return path, sum
}

// pinIn pins sum for name in the lock file at path.
func pinIn(t *testing.T, path, name, sum string) {
	t.Helper()
	lock := &pluginlock.File{Format: pluginlock.Format}
	if l, err := pluginlock.Read(path); err == nil {
		lock = l
	}
	lock.Put(pluginlock.Plugin{Name: name, Version: "0.1.0", Source: "test", SHA256: map[string]string{pluginlock.Platform(): sum}})
	if err := pluginlock.Write(path, lock); err != nil {
		t.Fatal(err)
	}
}

// serve makes the installed test binaries serve the plugin name.
func serve(t *testing.T, name string) {
	t.Setenv(envServe, name)
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}
