package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker/direct"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/local"
	"github.com/seedmicro/micro/core/server"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/toolkit/cli"
	"github.com/seedmicro/micro/toolkit/toolkittest"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// The binaries of the tests that run processes.
const (
	microPkg   = "../../cmd/micro"
	greeterPkg = "../../examples/greeter/service"
)

// world is a local registry in a temporary directory with the test service
// running in process.
type world struct {
	dir string
	reg *local.Registry
	srv *server.Server
	brk *direct.Broker
	ev  chan *toolkittest.HelloRequest
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), ev: make(chan *toolkittest.HelloRequest, 4)}
	var err error
	if w.reg, err = local.New(local.WithDir(w.dir)); err != nil {
		t.Fatal(err)
	}
	w.brk = direct.New(w.reg)
	if w.srv, err = toolkittest.Start(context.Background(), w.reg, "greeter", w.brk, w.ev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.srv.Stop(context.Background())
		w.brk.Close(context.Background())
		w.reg.Close()
	})
	return w
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs micro in process against the world's registry.
func (w *world) run(t *testing.T, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	return runCtx(context.Background(), t, w.dir, stdin, env, nil, args...)
}

func runCtx(ctx context.Context, t *testing.T, dir, stdin string, env map[string]string, ready func(string, string), args ...string) result {
	var out, errb testkit.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "MICRO_REGISTRY_ADDRESS" {
			return dir
		}
		return ""
	}
	e := cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(stdin), Getenv: getenv, Ready: ready}
	if env["TERM_TEST"] == "1" {
		e.Terminal = true
	}
	code := cli.Run(ctx, append([]string{"micro"}, args...), e)
	return result{code, out.String(), errb.String()}
}

func TestServicesAndDescribe(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, "", nil, "services")
	if r.code != 0 || !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "greeter") || !strings.Contains(r.stdout, "1.0.0") {
		t.Fatalf("services: %+v", r)
	}
	r = w.run(t, "", nil, "services", "--json")
	var sums []cli.ServiceSummary
	if err := json.Unmarshal([]byte(r.stdout), &sums); err != nil || r.code != 0 {
		t.Fatalf("services --json: %v %+v", err, r)
	}
	found := false
	for _, s := range sums {
		if s.Name == "greeter" && s.Version == "1.0.0" && s.Nodes == 1 && s.Endpoints >= 5 {
			found = true
		}
	}
	if !found {
		t.Fatalf("services --json lacks greeter: %s", r.stdout)
	}

	r = w.run(t, "", nil, "describe", "greeter")
	for _, want := range []string{"Greeter.Hello", "HelloRequest{name string, times int}", "HelloResponse{greeting string}", w.srv.Addr(), "Say.Hello"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe lacks %q:\n%s", want, r.stdout)
		}
	}
	r = w.run(t, "", nil, "describe", "greeter", "--json")
	var svcs []*registry.Service
	if err := json.Unmarshal([]byte(r.stdout), &svcs); err != nil || len(svcs) != 1 || len(svcs[0].Nodes) != 1 || svcs[0].Nodes[0].Address != w.srv.Addr() {
		t.Fatalf("describe --json: %v %s", err, r.stdout)
	}
	r = w.run(t, "", nil, "describe", "nosuch")
	if r.code != 15 || !strings.Contains(r.stderr, `not_found`) || !strings.Contains(r.stderr, `"nosuch"`) {
		t.Fatalf("describe nosuch: %+v", r)
	}
}

func TestCall(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"argument", "", []string{"call", "greeter", "Greeter.Hello", `{"name":"Ada"}`}, 0, `"greeting": "Hello, Ada!"`, ""},
		{"stdin", `{"name":"Bob"}`, []string{"call", "greeter", "Greeter.Hello"}, 0, `Hello, Bob!`, ""},
		{"dash is stdin", `{"name":"Cy"}`, []string{"call", "greeter", "Greeter.Hello", "-"}, 0, `Hello, Cy!`, ""},
		{"flags after arguments", "", []string{"call", "greeter", "Greeter.Meta", `{}`, "--metadata", "tenant=acme", "--metadata", "b=2"}, 0, `"tenant": "acme"`, ""},
		{"invalid argument", "", []string{"call", "greeter", "Greeter.Hello", `{"name":""}`}, 13, "", "micro: invalid_argument: name is empty"},
		{"handler not found", "", []string{"call", "greeter", "Greeter.Hello", `{"name":"missing"}`}, 15, "", "not_found: no such person"},
		{"unknown service", "", []string{"call", "nosuch", "X.Y", `{}`}, 15, "", `service "nosuch" not found`},
		{"timeout", "", []string{"call", "greeter", "Greeter.Slow", `{"wait":"5s"}`, "--timeout", "100ms"}, 14, "", "deadline_exceeded"},
		{"json error", "", []string{"call", "--json", "greeter", "Greeter.Hello", `{"name":""}`}, 13, "", `{"code":"invalid_argument","message":"name is empty"}`},
		{"bad json", "", []string{"call", "greeter", "Greeter.Hello", `{"name":`}, 2, "", "byte offset 8"},
		{"bad endpoint", "", []string{"call", "greeter", "hello"}, 2, "", "Type.Method"},
		{"bad metadata", "", []string{"call", "greeter", "Greeter.Hello", "{}", "--metadata", "novalue"}, 2, "", "KEY=VALUE"},
		{"no arguments", "", []string{"call"}, 2, "", "SERVICE ENDPOINT"},
		{"address", "", []string{"call", "whatever", "Greeter.Hello", `{"name":"Di"}`, "--address", w.srv.Addr()}, 0, "Hello, Di!", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(t, tt.stdin, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("exit %d stdout %q stderr %q; want exit %d, stdout with %q, stderr with %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestPublishAndHealth(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, "", nil, "publish", "greeter.greeted", `{"name":"event"}`)
	if r.code != 0 || !strings.Contains(r.stdout, "published to greeter.greeted") {
		t.Fatalf("publish: %+v", r)
	}
	select {
	case ev := <-w.ev:
		if ev.Name != "event" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber did not receive the published event")
	}
	if r := w.run(t, "", nil, "publish", "t", `{bad`); r.code != 2 || !strings.Contains(r.stderr, "not valid JSON") {
		t.Fatalf("publish bad json: %+v", r)
	}

	r = w.run(t, "", nil, "health", "greeter")
	if r.code != 0 || !strings.Contains(r.stdout, "serving") || !strings.Contains(r.stdout, w.srv.Addr()) {
		t.Fatalf("health: %+v", r)
	}
	r = w.run(t, "", nil, "health", "greeter", "--json")
	var hs []cli.NodeHealth
	if err := json.Unmarshal([]byte(r.stdout), &hs); err != nil || len(hs) != 1 || hs[0].Status != "serving" || hs[0].Address != w.srv.Addr() {
		t.Fatalf("health --json: %v %s", err, r.stdout)
	}
	// A node that is registered but does not answer.
	dead := &registry.Service{Name: "ghost", Version: "1", Nodes: []*registry.Node{{ID: "ghost-1", Address: "127.0.0.1:1"}}}
	if err := w.reg.Register(context.Background(), dead, time.Minute); err != nil {
		t.Fatal(err)
	}
	r = w.run(t, "", nil, "health", "ghost", "--timeout", "500ms")
	if r.code != 1 || !strings.Contains(r.stdout, "error") || !strings.Contains(r.stderr, "1 of 1 nodes") {
		t.Fatalf("health of a dead node: %+v", r)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- runCtx(ctx, t, dir, "", nil, nil, "watch", "--json", "watched") }()
	reg, err := local.New(local.WithDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	time.Sleep(300 * time.Millisecond) // let the watch start
	srv, err := toolkittest.Start(context.Background(), reg, "watched", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := toolkittest.Start(context.Background(), reg, "unwatched", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.Stop(context.Background())
	time.Sleep(500 * time.Millisecond)
	srv.Stop(context.Background())
	time.Sleep(500 * time.Millisecond) // let the removal arrive
	cancel()
	r := <-done
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev cli.WatchEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if ev.Service != "watched" {
			t.Fatalf("event of another service: %s", line)
		}
		types = append(types, ev.Type)
	}
	if r.code != 0 || len(types) < 2 || types[0] != "added" || types[len(types)-1] != "removed" {
		t.Fatalf("watch: exit %d events %v\n%s", r.code, types, r.stderr)
	}
}

func TestHelpHasExamples(t *testing.T) {
	app := cli.New(cli.Env{Stdout: io.Discard, Stderr: io.Discard})
	for _, c := range app.Commands {
		t.Run(c.Name, func(t *testing.T) {
			if !strings.Contains(c.Description, "EXAMPLES") {
				t.Fatalf("micro %s --help has no EXAMPLES", c.Name)
			}
			r := runCtx(context.Background(), t, t.TempDir(), "", nil, nil, c.Name, "--help")
			if r.code != 0 || !strings.Contains(r.stdout, "EXAMPLES") || !strings.Contains(r.stdout, "micro "+c.Name) {
				t.Fatalf("micro %s --help: %+v", c.Name, r)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nosuchcommand"}, {"services", "extra"}, {"describe"}, {"completion", "tcsh"}, {"call", "--nosuchflag", "a", "B.c"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCtx(context.Background(), t, t.TempDir(), "", nil, nil, args...)
			if r.code != 2 || r.stderr == "" {
				t.Fatalf("exit %d stderr %q, want 2 and a message", r.code, r.stderr)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	for sh, want := range map[string]string{"bash": "complete -o bashdefault", "zsh": "compdef _micro micro", "fish": "complete -c micro"} {
		t.Run(sh, func(t *testing.T) {
			r := runCtx(context.Background(), t, t.TempDir(), "", nil, nil, "completion", sh)
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Fatalf("completion %s: %+v", sh, r)
			}
		})
	}
	w := newWorld(t)
	r := w.run(t, "", nil, "describe", "--generate-bash-completion")
	if !strings.Contains(r.stdout, "greeter") {
		t.Fatalf("service names are not completed: %+v", r)
	}
	// The bash script, run by bash against the built binary.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is not installed; the completion test runs the bash script")
	}
	for words, want := range map[string]string{"micro desc": "describe", "micro call --ti": "--timeout", "micro describe gr": "greeter"} {
		script := `source <(micro completion bash); COMP_WORDS=(` + words + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _micro_complete; echo "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(testkit.Binary(t, microPkg))+":"+os.Getenv("PATH"), "MICRO_REGISTRY_DIR="+w.dir)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("bash completion of %q: %q %v, want %q", words, out, err, want)
		}
	}
}

func TestColor(t *testing.T) {
	w := newWorld(t)
	if r := w.run(t, "", map[string]string{"TERM_TEST": "1"}, "services"); !strings.Contains(r.stdout, "\x1b[1m") {
		t.Fatalf("no colour on a terminal: %q", r.stdout)
	}
	if r := w.run(t, "", map[string]string{"TERM_TEST": "1", "NO_COLOR": "1"}, "services"); strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("colour despite NO_COLOR: %q", r.stdout)
	}
	if r := w.run(t, "", nil, "services"); strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("colour when not on a terminal: %q", r.stdout)
	}
}

func TestServerCommands(t *testing.T) {
	tests := []struct {
		tool, method, path, body, want string
	}{
		{"api", http.MethodPost, "/greeter/hello", `{"name":"api"}`, "Hello, api!"},
		{"web", http.MethodGet, "/_micro/api/services", "", `"name":"greeter"`},
		{"sidecar", http.MethodPost, "/call/greeter/hello", `{"name":"sidecar"}`, "Hello, sidecar!"},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			w := newWorld(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			addrc := make(chan string, 1)
			done := make(chan result, 1)
			go func() {
				done <- runCtx(ctx, t, w.dir, "", nil, func(tool, addr string) { addrc <- addr }, tt.tool, "--address", "127.0.0.1:0")
			}()
			var addr string
			select {
			case addr = <-addrc:
			case r := <-done:
				t.Fatalf("micro %s ended: %+v", tt.tool, r)
			}
			req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, strings.NewReader(tt.body))
			rsp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode != 200 || !strings.Contains(string(b), tt.want) {
				t.Fatalf("%s %s: %d %s", tt.method, tt.path, rsp.StatusCode, b)
			}
			http.DefaultClient.CloseIdleConnections()
			cancel()
			if r := <-done; r.code != 0 {
				t.Fatalf("micro %s after interrupt: %+v", tt.tool, r)
			}
		})
	}
}

// TestRealProcesses runs the greeter example service and micro as
// processes of their own, sharing a local registry directory.
func TestRealProcesses(t *testing.T) {
	microBin, greeterBin := testkit.Binary(t, microPkg), testkit.Binary(t, greeterPkg)
	dir := t.TempDir()
	env := append(os.Environ(), "MICRO_REGISTRY_DIR="+dir, "NO_COLOR=1")
	svc := exec.Command(greeterBin)
	svc.Env = env
	greeter := testkit.Start(t, svc)
	defer greeter.Stop(t, os.Interrupt, time.Minute)
	micro := func(args ...string) (int, string, string) {
		cmd := exec.Command(microBin, args...)
		cmd.Env = env
		return testkit.Run(t, cmd)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, out, _ := micro("services")
		if strings.Contains(out, "greeter ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the greeter process did not appear in micro services:\n%s\nservice log:\n%s", out, greeter.Out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, out, errs := micro("call", "greeter", "Greeter.Hello", `{"name":"process"}`); code != 0 || !strings.Contains(out, "Hello, process!") {
		t.Fatalf("call: %d %s %s", code, out, errs)
	}
	if code, _, errs := micro("call", "greeter", "Greeter.Hello", `{"name":""}`); code != 13 || !strings.Contains(errs, "micro: invalid_argument: name is empty") {
		t.Fatalf("call with an error: exit %d stderr %s", code, errs)
	}
	if code, out, errs := micro("health", "greeter"); code != 0 || !strings.Contains(out, "serving") {
		t.Fatalf("health: %d %s %s", code, out, errs)
	}
	if code, out, errs := micro("describe", "greeter"); code != 0 || !strings.Contains(out, "HelloRequest{name string}") {
		t.Fatalf("describe: %d %s %s", code, out, errs)
	}
	if code, _, errs := micro("publish", "greeter.greeted", `{"name":"evt"}`); code != 0 {
		t.Fatalf("publish: %d %s", code, errs)
	}
	// micro api as a process of its own, in front of the greeter process,
	// stopped by SIGINT.
	apiCmd := exec.Command(microBin, "api", "--address", "127.0.0.1:0")
	apiCmd.Env = env
	api := testkit.Start(t, apiCmd)
	apiURL := api.WaitFor(t, "listening on ", 20*time.Second)
	rsp, err := http.Post(apiURL+"/greeter/hello", "application/json", strings.NewReader(`{"name":"gateway"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if rsp.StatusCode != 200 || !strings.Contains(string(b), "Hello, gateway!") {
		t.Errorf("micro api in front of the greeter process: %d %s", rsp.StatusCode, b)
	}
	if err := api.Stop(t, os.Interrupt, 20*time.Second); err != nil {
		t.Errorf("micro api after SIGINT: %v\n%s", err, api.Out.String())
	}

	greeter.WaitFor(t, "name=evt", 30*time.Second) // the service logs the published event
}

// TestSidecarProcesses runs micro sidecar, a Node.js program that joins
// through it, and the greeter example, each a process of its own; micro
// calls the program and publishes an event it receives.
func TestSidecarProcesses(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: install Node.js (apt-get install -y nodejs) to run the sidecar test")
	}
	dir := t.TempDir()
	env := append(os.Environ(), "MICRO_REGISTRY_DIR="+dir, "NO_COLOR=1")
	microBin := testkit.Binary(t, microPkg)
	const within = 30 * time.Second
	// start starts a process that SIGINT stops when the test ends.
	start := func(name string, args ...string) *testkit.Process {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		p := testkit.Start(t, cmd)
		t.Cleanup(func() { p.Stop(t, os.Interrupt, 10*time.Second) })
		return p
	}
	start(testkit.Binary(t, greeterPkg))
	scURL := start(microBin, "sidecar", "--address", "127.0.0.1:0", "--health-interval", "300ms").WaitFor(t, "listening on ", within)
	env = append(env, "SIDECAR="+scURL)
	// The program calls greeter as it starts: wait until greeter is there.
	deadline := time.Now().Add(within)
	for {
		cmd := exec.Command(microBin, "health", "greeter")
		cmd.Env = env
		if cmd.Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the greeter process did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	node := start(nodeBin, "../sidecar/testdata/app.js")
	node.WaitFor(t, "SUBSCRIBED ", within) // the program's start
	if called := node.WaitFor(t, "CALLED ", within); !strings.Contains(called, "Hello, node!") {
		t.Fatalf("the program's call of greeter: %s", called)
	}
	cmd := exec.Command(microBin, "call", "nodeapp", "Node.Greet", `{"name":"cli"}`, "--metadata", "tenant=ops")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Hi cli, from node") || !strings.Contains(string(out), `"tenant": "ops"`) {
		t.Fatalf("micro call nodeapp: %v\n%s", err, out)
	}
	cmd = exec.Command(microBin, "publish", "node.events", `{"n":3}`)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("micro publish: %v\n%s", err, out)
	}
	if ev := node.WaitFor(t, "EVENT ", within); !strings.Contains(ev, `"n":3`) || !strings.Contains(ev, `"attempt":2`) {
		t.Fatalf("event at the program: %s", ev)
	}
}
