// Package installtest makes what tests of plugin installs need: a fake plugin
// binary that answers the go-plugin handshake like a real one (and does
// nothing else), a checkout of the micro module holding it, and a file-based
// Go module proxy serving it from another module.
package installtest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/plugin"
)

// Handshake cookie of the fake plugin: the plugin host's. Tests pass it to
// install.WithHandshake.
const (
	CookieKey   = plugin.MagicCookieKey
	CookieValue = plugin.MagicCookieValue
)

// Behaviours of the fake plugin.
const (
	Normal = "normal" // answers the handshake and waits to be killed
	Silent = "silent" // never answers
	Exit   = "exit"   // exits with status 1 without a handshake
	NetRPC = "netrpc" // answers with the netrpc protocol
)

// FakeMain is the source of the fake plugin: package main, standard library
// only. main.proto (the app protocol it speaks) and main.mode (one of the
// behaviours) are set with -ldflags -X.
const FakeMain = `package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

var (
	proto = "1"
	mode  = "normal"
)

func main() {
	if os.Getenv("` + CookieKey + `") != "` + CookieValue + `" {
		fmt.Fprintln(os.Stderr, "This binary is a plugin. These are not meant to be executed directly.")
		os.Exit(1)
	}
	switch mode {
	case "silent":
		time.Sleep(time.Hour)
	case "exit":
		fmt.Fprintln(os.Stderr, "fake plugin: failing on purpose")
		os.Exit(1)
	}
	// Negotiate like go-plugin: the version asked for, when it is ours.
	mine, _ := strconv.Atoi(proto)
	for _, v := range strings.Split(os.Getenv("PLUGIN_PROTOCOL_VERSIONS"), ",") {
		if n, _ := strconv.Atoi(v); n == mine {
			break
		}
	}
	dir := os.Getenv("PLUGIN_UNIX_SOCKET_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	l, err := net.Listen("unix", filepath.Join(dir, "plugin.sock"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer l.Close()
	protocol := "grpc"
	if mode == "netrpc" {
		protocol = "netrpc"
	}
	fmt.Printf("1|%d|unix|%s|%s|\n", mine, l.Addr(), protocol)
	time.Sleep(time.Hour)
}
`

// Fake describes one build of the fake plugin.
type Fake struct {
	Proto int    // default 1
	Mode  string // default Normal
	Tag   string // any string: makes binaries of otherwise equal builds differ
}

func (f Fake) ldflags() string {
	proto, mode := f.Proto, f.Mode
	if proto == 0 {
		proto = 1
	}
	if mode == "" {
		mode = Normal
	}
	s := fmt.Sprintf("-X main.proto=%d -X main.mode=%s", proto, mode)
	if f.Tag != "" {
		s += " -X main.tag=" + f.Tag
	}
	return s
}

// Build builds the fake plugin to out.
func Build(tb testing.TB, out string, f Fake) {
	tb.Helper()
	dir := tb.TempDir()
	write(tb, filepath.Join(dir, "go.mod"), "module fakeplugin\n\ngo 1.26\n")
	src := FakeMain
	if f.Tag != "" {
		src += "\nvar tag string\n\nfunc init() { _ = tag }\n"
	}
	write(tb, filepath.Join(dir, "main.go"), src)
	run(tb, dir, nil, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", f.ldflags(), "-o", out, ".")
}

// Checkout writes a minimal checkout of the micro module at dir holding the
// fake plugin as the package of the built-in catalog's broker/memory (and
// store/memory), so that an install from source builds it. It returns dir.
func Checkout(tb testing.TB, dir string) string {
	tb.Helper()
	write(tb, filepath.Join(dir, "go.mod"), "module github.com/seedmicro/micro\n\ngo 1.26\n")
	for _, name := range []string{"broker", "store"} {
		pkg := filepath.Join(dir, "plugins", name, "memory", "cmd", "micro-plugin-"+name+"-memory")
		write(tb, filepath.Join(pkg, "main.go"), FakeMain)
	}
	return dir
}

// Proxy writes a file-based Go module proxy at dir serving module modPath at
// each version, each holding the fake plugin at modPath/cmd/<binary>. Use it
// with GOPROXY=file://<dir>, GOSUMDB=off and GOFLAGS=-modcacherw.
func Proxy(tb testing.TB, dir, modPath, binary string, versions ...string) {
	tb.Helper()
	base := filepath.Join(dir, filepath.FromSlash(strings.ToLower(modPath)), "@v")
	gomod := "module " + modPath + "\n\ngo 1.26\n"
	for _, v := range versions {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for name, body := range map[string]string{
			"go.mod":                        gomod,
			"cmd/" + binary + "/main.go":    FakeMain,
			"cmd/" + binary + "/version.go": "package main\n\nconst version = \"" + v + "\"\n",
		} {
			w, err := zw.Create(modPath + "@" + v + "/" + name)
			if err != nil {
				tb.Fatal(err)
			}
			w.Write([]byte(body))
		}
		zw.Close()
		write(tb, filepath.Join(base, v+".zip"), buf.String())
		write(tb, filepath.Join(base, v+".mod"), gomod)
		write(tb, filepath.Join(base, v+".info"), `{"Version":"`+v+`","Time":"2026-01-01T00:00:00Z"}`)
	}
	write(tb, filepath.Join(base, "list"), strings.Join(versions, "\n")+"\n")
}

func write(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func run(tb testing.TB, dir string, env []string, name string, args ...string) {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Snapshot returns every file of a plugin directory with its mode and
// content, to compare before and after a failed install.
func Snapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	snap := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			tb.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		snap[rel] = v
		return nil
	})
	return snap
}
