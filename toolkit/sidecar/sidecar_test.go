package sidecar_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	brokermem "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/client"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/toolkit/sidecar"
	"github.com/seedmicro/micro/toolkit/toolkittest"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

type env struct {
	reg *memory.Registry
	brk *brokermem.Broker
	cl  *client.Client
	sc  *sidecar.Sidecar
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{reg: memory.New(), brk: brokermem.New()}
	e.cl = client.New(client.WithRegistry(e.reg), client.WithBroker(e.brk))
	e.sc = sidecar.New(e.reg, e.brk, e.cl,
		sidecar.WithHealthInterval(200*time.Millisecond),
		sidecar.WithBackoff(func(int) time.Duration { return 10 * time.Millisecond }))
	if err := e.sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(e.sc.Handler())
	e.url = ts.URL
	srv, err := toolkittest.Start(ctx, e.reg, "greeter", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop(ctx)
		ts.CloseClientConnections()
		ts.Close()
		if err := e.sc.Close(ctx); err != nil {
			t.Errorf("sidecar Close: %v", err)
		}
		e.cl.Close()
		e.brk.Close(ctx)
		e.reg.Close()
	})
	return e
}

func (e *env) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	rsp, err := http.Post(e.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b)
}

// TestNodeProgram runs a Node.js program that registers through the
// sidecar, is called by Go, calls Go, and receives an event.
func TestNodeProgram(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: install Node.js (apt-get install -y nodejs) to run the sidecar test")
	}
	e := newEnv(t)
	ctx := context.Background()

	cmd := exec.Command(nodeBin, "testdata/app.js")
	cmd.Env = append(os.Environ(), "SIDECAR="+e.url)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Process.Kill()
		cmd.Wait()
		wg.Wait()
	}()
	var seen []string
	expect := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the node program ended before %q; it printed %q", prefix, seen)
				}
				seen = append(seen, l)
				if strings.HasPrefix(l, "ERROR") {
					t.Fatalf("node program: %s", l)
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimPrefix(l, prefix)
				}
			case <-timeout:
				t.Fatalf("no %q line from the node program; it printed %q", prefix, seen)
			}
		}
	}
	if called := expect("CALLED "); !strings.Contains(called, "Hello, node!") {
		t.Fatalf("the node program called greeter through the sidecar and got %s", called)
	}
	expect("READY ")

	// The registry shows the program, with its endpoint.
	svcs, err := e.reg.Lookup(ctx, "nodeapp")
	if err != nil || len(svcs[0].Nodes) != 1 || svcs[0].Nodes[0].Address != e.sc.RPCAddress() || svcs[0].Endpoints[0].Name != "Node.Greet" {
		t.Fatalf("nodeapp in the registry: %v %+v", err, svcs)
	}

	// A Go service calls it.
	var rsp struct{ Greeting, Tenant string }
	cctx := metadata.NewContext(ctx, metadata.New("tenant", "acme"))
	if err := e.cl.Call(cctx, "nodeapp", "Node.Greet", map[string]string{"name": "Go"}, &rsp); err != nil {
		t.Fatal(err)
	}
	if rsp.Greeting != "Hi Go, from node" || rsp.Tenant != "acme" {
		t.Fatalf("Node.Greet answered %+v", rsp)
	}
	err = e.cl.Call(ctx, "nodeapp", "Node.Greet", map[string]string{"name": ""}, &rsp)
	if merrors.CodeOf(err) != merrors.InvalidArgument || !strings.Contains(err.Error(), "name is empty") {
		t.Fatalf("an error of the program reached Go as %v", err)
	}
	err = e.cl.Call(ctx, "nodeapp", "Node.Nope", map[string]string{}, &rsp)
	if merrors.CodeOf(err) != merrors.Unimplemented {
		t.Fatalf("an unknown endpoint: %v", err)
	}

	// An event published by Go reaches the program, on the second attempt
	// (it refuses the first).
	if err := e.cl.Publish(ctx, "node.events", map[string]int{"n": 7}); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Topic   string
		Attempt int
		Event   map[string]int
	}
	if err := json.Unmarshal([]byte(expect("EVENT ")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Topic != "node.events" || ev.Attempt != 2 || ev.Event["n"] != 7 {
		t.Fatalf("event %+v", ev)
	}

	// When its health check fails, it is deregistered.
	addr := expectAddr(seen)
	if rsp, err := http.Post(addr+"/fail", "application/json", nil); err != nil {
		t.Fatal(err)
	} else {
		rsp.Body.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.reg.Lookup(ctx, "nodeapp")
		if errors.Is(err, registry.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodeapp is still registered after its health check failed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func expectAddr(lines []string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, "READY ") {
			return strings.TrimPrefix(l, "READY ")
		}
	}
	return ""
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/register", `{"name":"x"}`, 400, "address"},
		{"/register", `{"name":"bad name!","address":"http://127.0.0.1:1"}`, 400, "name"},
		{"/register", `{"name":"x","address":"http://127.0.0.1:1","endpoints":["nodot"]}`, 400, "Type.Method"},
		{"/register", `{"name":"x","address":"http://127.0.0.1:1","extra":1}`, 400, "unknown field"},
		{"/register", `{"name":"x","address":"http://127.0.0.1:1","health_check":"http://127.0.0.1:1/health"}`, 412, "health check"},
		{"/deregister", `{"name":"nobody"}`, 404, "nobody"},
		{"/subscribe", `{"topic":"t","callback":"ftp://x"}`, 400, "callback"},
		{"/publish/t", `{not json`, 400, "not valid JSON"},
		{"/call/nosuch/hello", `{}`, 404, "nosuch"},
		{"/call/greeter/hello", `{"name":""}`, 400, "name is empty"},
		{"/nowhere", `{}`, 404, "/register"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := e.post(t, tt.path, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%s %s: %d %s; want %d with %q", tt.path, tt.body, status, body, tt.status, tt.want)
			}
		})
	}
}

func TestCallAndPublishOverHTTP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if status, body := e.post(t, "/call", `{"service":"greeter","endpoint":"Say.Hello","request":{"name":"x"}}`); status != 200 || !strings.Contains(body, "Say hello to x") {
		t.Fatalf("/call: %d %s", status, body)
	}
	got := make(chan *broker.Message, 1)
	sub, err := e.brk.Subscribe(ctx, "http.events", func(ctx context.Context, msg *broker.Message) error {
		got <- msg
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)
	req, _ := http.NewRequest(http.MethodPost, e.url+"/publish/http.events", strings.NewReader(`{"id": 1}`))
	req.Header.Set("Micro-Meta-Source", "node")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 200 {
		t.Fatalf("/publish: %d", rsp.StatusCode)
	}
	select {
	case m := <-got:
		if string(m.Body) != `{"id": 1}` || m.Header["source"] != "node" || m.Header["Content-Type"] != "application/json" {
			t.Fatalf("published message %q %v", m.Body, m.Header)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the published event did not arrive")
	}
}

func TestStream(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/subscribe/stream.events", nil)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(rsp.Body)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, ": subscribed") {
		t.Fatalf("first line %q %v", l, err)
	}
	for _, n := range []string{"1", "2"} {
		if err := e.cl.Publish(context.Background(), "stream.events", map[string]string{"n": n}); err != nil {
			t.Fatal(err)
		}
		var event, data string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			l = strings.TrimRight(l, "\n")
			if l == "" && data != "" {
				break
			}
			if v, ok := strings.CutPrefix(l, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(l, "data: "); ok {
				data = v
			}
		}
		if event != "message" || data != `{"n":"`+n+`"}` {
			t.Fatalf("event %q data %q", event, data)
		}
	}
	// The program goes away while events keep coming: the stream's
	// subscription ends and nothing waits on it (Close in the cleanup
	// returns).
	cancel()
	for i := 0; i < 3; i++ {
		e.cl.Publish(context.Background(), "stream.events", map[string]int{"after": i})
	}
}

// TestHealthRecovery: a program whose health check fails is deregistered,
// and registered again once it passes.
func TestHealthRecovery(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	healthy := true
	prog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := healthy
		mu.Unlock()
		if r.URL.Path == "/health" && !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer prog.Close()
	if status, body := e.post(t, "/register", `{"name":"flaky","address":"`+prog.URL+`","endpoints":["Flaky.Do"],"health_check":"`+prog.URL+`/health"}`); status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	registered := func() bool {
		_, err := e.reg.Lookup(ctx, "flaky")
		return err == nil
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !registered() {
		t.Fatal("flaky is not registered")
	}
	var out map[string]bool
	if err := e.cl.Call(ctx, "flaky", "Flaky.Do", map[string]int{}, &out); err != nil || !out["ok"] {
		t.Fatalf("call: %v %v", out, err)
	}
	mu.Lock()
	healthy = false
	mu.Unlock()
	waitUntil("flaky is deregistered", func() bool { return !registered() })
	mu.Lock()
	healthy = true
	mu.Unlock()
	waitUntil("flaky is registered again", registered)
	if status, body := e.post(t, "/deregister", `{"name":"flaky"}`); status != 200 {
		t.Fatalf("deregister: %d %s", status, body)
	}
	if registered() {
		t.Fatal("flaky is still registered after /deregister")
	}
}
