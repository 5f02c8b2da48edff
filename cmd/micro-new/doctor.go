package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/install"
	"github.com/seedmicro/micro/resolve"
)

// diagnosis is one check of doctor: what was checked, what was found and,
// for a problem, one line of advice.
type diagnosis struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Advice string `json:"advice,omitempty"`
}

func doctorCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check the Go toolchain, the plugin source, the plugin directory and the configured servers",
		Description: `Checks what micro-new and the services need, and prints one line per check
with, for each problem, one line of advice:

  go        the Go toolchain that builds plugins from source
  source    where plugins of micro are built from: a checkout, or the
            released module through the Go module proxy (reached)
  plugins   the plugin directory: safe permissions, a readable lock, and
            every installed plugin verified as a service would
  broker, registry, store
            for each that the configuration names as a service reads it
            ($MICRO_CONFIG's file, $MICRO_BROKER, $MICRO_REGISTRY,
            $MICRO_STORE and their _ADDRESS variables): the plugin is
            installed, and its server (its address, else the catalog's
            default) accepts a connection

Exit status 1 when a check fails.`,
		CustomHelpTemplate: withExamples(
			"micro-new doctor",
			"MICRO_BROKER=redis micro-new doctor          and reach the Redis server",
			"micro-new doctor --json",
		),
		Action: action(e, func(s *session) error {
			if s.c.NArg() > 0 {
				return usage(s.c, "doctor takes no argument")
			}
			ds := s.diagnose(s.c.Context)
			bad := 0
			for _, d := range ds {
				if !d.OK {
					bad++
				}
			}
			if s.json {
				if err := s.writeJSON(ds); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(s.e.stdout, 0, 0, 2, ' ', 0)
				for _, d := range ds {
					status := "ok"
					if !d.OK {
						status = "FAIL"
					}
					fmt.Fprintf(tw, "%-4s\t%s\t%s\n", status, d.Check, d.Detail)
					if d.Advice != "" {
						fmt.Fprintf(tw, "\t\t→ %s\n", d.Advice)
					}
				}
				tw.Flush()
			}
			if bad > 0 {
				return &exitError{code: exitFailure, msg: fmt.Sprintf("%d of %d checks failed; the advice above says what to do", bad, len(ds))}
			}
			return nil
		}),
	}
}

func (s *session) diagnose(ctx context.Context) []diagnosis {
	goCmd := s.e.goCmd
	if goCmd == "" {
		goCmd = "go"
	}
	ds := []diagnosis{diagnoseGo(ctx, goCmd)}
	ds = append(ds, s.diagnoseSource(ctx, goCmd))
	ds = append(ds, s.diagnosePluginDir(ctx)...)
	ds = append(ds, s.diagnoseServers(ctx)...)
	return ds
}

func diagnoseGo(ctx context.Context, goCmd string) diagnosis {
	d := diagnosis{Check: "go"}
	path, err := exec.LookPath(goCmd)
	if err != nil {
		d.Detail = fmt.Sprintf("%q is not found", goCmd)
		d.Advice = "install Go (the version go.mod names, or later) and put it on $PATH; without it only prebuilt artifacts install"
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "env", "GOVERSION").Output()
	if err != nil {
		d.Detail = fmt.Sprintf("%s does not run: %v", path, err)
		d.Advice = "reinstall Go, or put a working go first on $PATH"
		return d
	}
	d.OK, d.Detail = true, strings.TrimSpace(string(out))+" ("+path+")"
	return d
}

func (s *session) diagnoseSource(ctx context.Context, goCmd string) diagnosis {
	d := diagnosis{Check: "source"}
	src := findSource(ctx, s.e, goCmd)
	switch {
	case src.err != nil:
		msg, fix, _ := strings.Cut(src.err.Error(), "\n  to fix: ")
		d.Detail, d.Advice = msg, fix
	case src.dir != "":
		d.OK, d.Detail = true, src.dir+" ("+src.how+")"
	default:
		d.Detail = src.how
		if err := s.reachProxy(ctx, goCmd, src.version); err != nil {
			d.Detail += ": " + err.Error()
			d.Advice = "check the network and $GOPROXY (go env GOPROXY), or build from a checkout: set " + envSourceDir
			return d
		}
		d.OK = true
	}
	return d
}

// reachProxy asks the first module proxy of go's configuration for micro at
// version.
func (s *session) reachProxy(ctx context.Context, goCmd, version string) error {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOPROXY").Output()
	if err != nil {
		return fmt.Errorf("go env GOPROXY: %w", err)
	}
	for _, p := range strings.FieldsFunc(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
		switch p {
		case "off":
			return fmt.Errorf("GOPROXY=off: modules cannot be fetched")
		case "direct":
			return nil // fetched from the repository itself: nothing to ask here
		}
		u := strings.TrimRight(p, "/") + "/" + install.MicroModule + "/@v/" + version + ".info"
		ctx, cancel := context.WithTimeout(ctx, s.e.timeouts.Total)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := s.e.client.Do(req)
		if err != nil {
			return install.ExplainNetError(u, err, s.e.timeouts)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the module proxy answers %s for %s@%s", resp.Status, install.MicroModule, version)
		}
		return nil
	}
	return nil
}

func (s *session) diagnosePluginDir(ctx context.Context) []diagnosis {
	d := diagnosis{Check: "plugins"}
	fi, err := os.Lstat(s.pluginDir)
	switch {
	case os.IsNotExist(err):
		return []diagnosis{{Check: "plugins", OK: true, Detail: s.pluginDir + " does not exist yet; the first install creates it"}}
	case err != nil:
		d.Detail, d.Advice = err.Error(), "make the directory readable, or choose another with --plugin-dir or $"+envPluginDir
		return []diagnosis{d}
	case fi.Mode()&fs.ModeSymlink != 0:
		d.Detail, d.Advice = s.pluginDir+" is a symbolic link, which the plugin host refuses", "set $"+envPluginDir+" to the directory it points to"
		return []diagnosis{d}
	case !fi.IsDir():
		d.Detail, d.Advice = s.pluginDir+" is not a directory", "remove it, or choose another with $"+envPluginDir
		return []diagnosis{d}
	case fi.Mode().Perm()&0o022 != 0:
		d.Detail, d.Advice = fmt.Sprintf("%s is writable by group or others (mode %v)", s.pluginDir, fi.Mode().Perm()), "run: chmod go-w "+s.pluginDir
		return []diagnosis{d}
	}
	lock, err := s.installed()
	if err != nil {
		d.Detail, d.Advice = "its lock: "+err.Error(), "restore micro.lock from a backup, or remove it and reinstall the plugins"
		return []diagnosis{d}
	}
	checks, err := s.installer().Verify(ctx, nil, "")
	if err != nil {
		d.Detail, d.Advice = err.Error(), "run micro-new verify for details"
		return []diagnosis{d}
	}
	var failed []string
	for _, c := range checks {
		if !c.OK() {
			failed = append(failed, c.Name+" ("+c.Status+")")
		}
	}
	if len(failed) > 0 {
		d.Detail = fmt.Sprintf("%s: %d of %d plugins fail verification: %s", s.pluginDir, len(failed), len(checks), strings.Join(failed, ", "))
		d.Advice = "run micro-new verify, and reinstall what it names"
		return []diagnosis{d}
	}
	d.OK, d.Detail = true, fmt.Sprintf("%s: %d installed, all verified", s.pluginDir, len(lock.Plugins))
	return []diagnosis{d}
}

// embedded names the implementations compiled into every service.
var embedded = map[string]bool{"": true, "memory": true, "local": true, "direct": true, "default": true}

func (s *session) diagnoseServers(ctx context.Context) []diagnosis {
	// The configuration as a service reads it: $MICRO_CONFIG's file,
	// overridden by the MICRO_* variables.
	cfg, err := resolve.RegisterFlags(flag.NewFlagSet("doctor", flag.ContinueOnError)).Config(s.e.getenv)
	if err != nil {
		return []diagnosis{{Check: "config", Detail: err.Error(), Advice: "fix the file of $" + resolve.EnvConfig + " or the MICRO_* variable the error names"}}
	}
	var ds []diagnosis
	lock, _ := s.installed()
	for _, c := range []struct {
		kind string
		comp resolve.Component
	}{{"broker", cfg.Broker}, {"registry", cfg.Registry}, {"store", cfg.Store}} {
		kind, env := c.kind, "MICRO_"+strings.ToUpper(c.kind)
		name := strings.TrimPrefix(c.comp.Name, kind+"/")
		if embedded[name] {
			continue
		}
		full := kind + "/" + name
		d := diagnosis{Check: kind}
		entry, err := s.set.Lookup(catalog.Ref{Name: full})
		if err != nil {
			d.Detail = fmt.Sprintf("the %s is %s: %v", kind, name, err)
			d.Advice = "set $" + env + " (or the config file's " + kind + ".name) to a plugin of the catalog (micro-new list)"
			ds = append(ds, d)
			continue
		}
		if lock != nil {
			if _, ok := lock.Get(full); !ok {
				d.Detail = fmt.Sprintf("the %s is %s, and %s is not installed in %s", kind, name, full, s.pluginDir)
				d.Advice = "run: micro-new install " + full + " (unless the service has it compiled in)"
				ds = append(ds, d)
				continue
			}
		}
		addr, from := c.comp.Address, "its configured address"
		if addr == "" {
			addr, from = defaultURL(entry), "the catalog's default"
		}
		hostport, err := dialAddress(addr)
		if err != nil {
			d.Detail = fmt.Sprintf("%s address %s (%s): %v", full, redact(addr), from, err)
			d.Advice = "set $" + env + "_ADDRESS to the server's URL, e.g. " + exampleURL(name)
			ds = append(ds, d)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", hostport)
		cancel()
		if err != nil {
			d.Detail = fmt.Sprintf("cannot reach %s's server at %s (%s): %v", full, hostport, from, err)
			d.Advice = fmt.Sprintf("start the server, or point $%s_ADDRESS at one", env)
			ds = append(ds, d)
			continue
		}
		conn.Close()
		d.OK, d.Detail = true, fmt.Sprintf("%s installed; its server at %s accepts connections", full, hostport)
		ds = append(ds, d)
	}
	return ds
}

// defaultURL returns the default of the "url" setting of the plugin's latest
// version, or "".
func defaultURL(e catalog.Entry) string {
	for _, st := range e.Plugin.Latest().Settings {
		if st.Name == "url" || st.Name == "address" {
			var v string
			if json.Unmarshal(st.Default, &v) == nil {
				return v
			}
		}
	}
	return ""
}

var defaultPorts = map[string]string{"redis": "6379", "rediss": "6379", "amqp": "5672", "amqps": "5671", "nats": "4222", "tls": "4222"}

// dialAddress returns host:port of a server URL, or of a bare host:port.
func dialAddress(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("no address set, and the catalog gives no default")
	}
	first, _, _ := strings.Cut(addr, ",") // a list of servers: the first
	if !strings.Contains(first, "://") {
		if _, _, err := net.SplitHostPort(first); err != nil {
			return "", fmt.Errorf("want a URL or host:port")
		}
		return first, nil
	}
	u, err := url.Parse(first)
	if err != nil {
		return "", fmt.Errorf("not a URL")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("the URL names no host")
	}
	if port == "" {
		port = defaultPorts[u.Scheme]
	}
	if port == "" {
		return "", fmt.Errorf("the URL names no port")
	}
	return net.JoinHostPort(host, port), nil
}

func exampleURL(name string) string {
	switch name {
	case "redis":
		return "redis://127.0.0.1:6379/0"
	case "rabbitmq":
		return "amqp://guest:guest@127.0.0.1:5672/"
	case "nats":
		return "nats://127.0.0.1:4222"
	}
	return "the URL its plugin's settings describe (micro-new info)"
}

// redact hides the password of a URL.
func redact(addr string) string {
	u, err := url.Parse(addr)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(addr, "@") {
			return "(an address that does not parse)"
		}
		return addr
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
