package web_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seedmicro/micro/core/client"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/toolkit/toolkittest"
	"github.com/seedmicro/micro/toolkit/web"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

type dash struct {
	h   *web.Handler
	reg *memory.Registry
	url string
	dir string // plugin directory
}

func newDash(t *testing.T) *dash {
	t.Helper()
	d := &dash{reg: memory.New(), dir: t.TempDir()}
	cl := client.New(client.WithRegistry(d.reg))
	h := web.New(d.reg, cl, web.WithPluginDir(d.dir))
	d.h = h
	ts := httptest.NewServer(h)
	d.url = ts.URL
	t.Cleanup(func() {
		h.Close()
		ts.Close()
		cl.Close()
		d.reg.Close()
	})
	return d
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	rsp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, rsp.Header, string(b)
}

func TestAPI(t *testing.T) {
	d := newDash(t)
	ctx := context.Background()
	srv, err := toolkittest.Start(ctx, d.reg, "greeter", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx)

	code, h, body := get(t, d.url+"/")
	if code != 200 || !strings.Contains(body, "/_micro/static/app.js") || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("index: %d %v", code, h)
	}
	if code, _, body := get(t, d.url+"/_micro/static/app.js"); code != 200 || !strings.Contains(body, "textContent") {
		t.Fatalf("app.js: %d", code)
	}
	code, _, body = get(t, d.url+"/_micro/api/services")
	var sums []web.ServiceSummary
	if err := json.Unmarshal([]byte(body), &sums); err != nil || code != 200 || len(sums) != 1 || sums[0].Name != "greeter" || sums[0].Nodes != 1 {
		t.Fatalf("services: %d %s", code, body)
	}
	code, _, body = get(t, d.url+"/_micro/api/services/greeter")
	var svcs []*registry.Service
	if err := json.Unmarshal([]byte(body), &svcs); err != nil || code != 200 || len(svcs) != 1 || len(svcs[0].Endpoints) < 5 {
		t.Fatalf("service: %d %s", code, body)
	}
	if code, _, body := get(t, d.url+"/_micro/api/services/nosuch"); code != 404 || !strings.Contains(body, `\"nosuch\"`) {
		t.Fatalf("unknown service: %d %s", code, body)
	}

	call := func(hdr bool, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, d.url+"/_micro/api/call", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if hdr {
			req.Header.Set("X-Micro-Dashboard", "1")
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		b, _ := io.ReadAll(rsp.Body)
		return rsp.StatusCode, string(b)
	}
	code, body = call(true, `{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":"Web"}}`)
	var res web.CallResult
	if err := json.Unmarshal([]byte(body), &res); err != nil || code != 200 || !strings.Contains(string(res.Response), "Hello, Web!") || res.LatencyMS <= 0 {
		t.Fatalf("call: %d %s", code, body)
	}
	if code, body := call(true, `{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":""}}`); code != 400 || !strings.Contains(body, "invalid_argument") {
		t.Fatalf("call with an error: %d %s", code, body)
	}
	if code, body := call(false, `{"service":"greeter","endpoint":"Greeter.Hello"}`); code != 403 {
		t.Fatalf("call without the dashboard header: %d %s", code, body)
	}
	if code, body := call(true, `{"service":`); code != 400 {
		t.Fatalf("malformed call: %d %s", code, body)
	}
}

func TestPlugins(t *testing.T) {
	d := newDash(t)
	bin := []byte("#!/bin/sh\necho plugin\n")
	sum := sha256.Sum256(bin)
	if err := os.WriteFile(filepath.Join(d.dir, pluginlock.BinaryName("broker/good")), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, pluginlock.BinaryName("broker/changed")), append(bin, '#'), 0o755); err != nil {
		t.Fatal(err)
	}
	lock := &pluginlock.File{Format: pluginlock.Format}
	for _, n := range []string{"broker/good", "broker/changed", "store/gone"} {
		lock.Put(pluginlock.Plugin{Name: n, Version: "0.1.0", Source: "test", SHA256: map[string]string{pluginlock.Platform(): hex.EncodeToString(sum[:])}})
	}
	if err := pluginlock.Write(filepath.Join(d.dir, pluginlock.FileName), lock); err != nil {
		t.Fatal(err)
	}
	_, _, body := get(t, d.url+"/_micro/api/plugins")
	var ps []web.PluginHealth
	if err := json.Unmarshal([]byte(body), &ps); err != nil {
		t.Fatal(err, body)
	}
	got := map[string]string{}
	for _, p := range ps {
		got[p.Name] = p.Health
	}
	want := map[string]string{"broker/good": "ok", "broker/changed": "modified", "store/gone": "missing"}
	for n, h := range want {
		if got[n] != h {
			t.Errorf("plugin %s: health %q, want %q (%s)", n, got[n], h, body)
		}
	}
}

func TestReverseProxy(t *testing.T) {
	d := newDash(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend saw "+r.URL.Path+" prefix "+r.Header.Get("X-Forwarded-Prefix"))
	}))
	defer backend.Close()
	if err := d.reg.Register(context.Background(), &registry.Service{Name: "web.hello", Version: "1",
		Nodes: []*registry.Node{{ID: "h1", Address: strings.TrimPrefix(backend.URL, "http://")}}}, 0); err != nil {
		t.Fatal(err)
	}
	if code, _, body := get(t, d.url+"/hello/a/b"); code != 200 || body != "backend saw /a/b prefix /hello" {
		t.Fatalf("proxy: %d %q", code, body)
	}
	if code, _, body := get(t, d.url+"/nosuch/x"); code != 404 || !strings.Contains(body, `web.nosuch`) {
		t.Fatalf("unknown web service: %d %s", code, body)
	}
}

// chromium returns the browser binary, or skips the test with how to
// install one; with MICRO_TEST_BROWSER=required (as .ci/run sets) a
// missing browser fails the test instead.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium binary on $PATH: install it with `apt-get install -y chromium` (make setup does)"
	if os.Getenv("MICRO_TEST_BROWSER") == "required" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestBrowser drives the dashboard in headless Chromium: a service appears
// when it starts, is called through the form, and disappears when it
// stops; a name with markup shows as text. Screenshots go to the test's
// artifact directory (go test -artifacts keeps them).
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	d := newDash(t)
	shots := t.ArtifactDir()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser; it must not run under a timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	// waitJS polls a JavaScript condition until it holds.
	waitJS := func(what, cond string) {
		t.Helper()
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if ok {
				return
			}
			select {
			case <-ctx.Done():
				shot("timeout.png")
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	do("open the dashboard", chromedp.Navigate(d.url+"/"))
	waitJS("the live connection", `document.getElementById("live").classList.contains("on")`)

	// A service appears when it starts.
	sctx := context.Background()
	srv, err := toolkittest.Start(sctx, d.reg, "greeter", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(sctx)
	evil := `<img src=x onerror="document.title='pwned'">`
	if err := d.reg.Register(sctx, &registry.Service{Name: evil, Version: "<b>1</b>", Nodes: []*registry.Node{{ID: "<i>n</i>", Address: "127.0.0.1:1"}}}, 0); err != nil {
		t.Fatal(err)
	}
	waitJS("greeter in the list", `!!document.querySelector('#services li[data-service="greeter"]')`)
	waitJS("the evil name in the list", `document.querySelectorAll('#services li').length === 2`)
	if n := eval(`String(document.querySelectorAll('#services img, #services b').length)`); n != "0" {
		t.Errorf("markup from the registry became %s elements", n)
	}
	if got := eval(`[...document.querySelectorAll('#services li .name')].map(e => e.textContent).find(n => n.startsWith('<img')) || ""`); got != evil {
		t.Errorf("a service name with markup is not shown as its text: %q", got)
	}
	shot("01-services.png")
	if err := d.reg.Deregister(sctx, &registry.Service{Name: evil, Version: "<b>1</b>", Nodes: []*registry.Node{{ID: "<i>n</i>"}}}); err != nil {
		t.Fatal(err)
	}
	waitJS("the evil name gone", `document.querySelectorAll('#services li').length === 1`)

	// Choose the service and call Greeter.Hello through the form.
	do("choose greeter",
		chromedp.Click(chromedp.CSS(`#services li[data-service="greeter"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#service`)))
	waitJS("the endpoints", `!!document.querySelector('#endpoint option[value="Greeter.Hello"]')`)
	do("choose Greeter.Hello", chromedp.SetValue(chromedp.CSS(`#endpoint`), "Greeter.Hello"))
	eval(`document.getElementById("endpoint").dispatchEvent(new Event("change")); ""`)
	request := eval(`document.getElementById("request").value`)
	var prefilled map[string]any
	if err := json.Unmarshal([]byte(request), &prefilled); err != nil {
		t.Errorf("the form was not pre-filled with JSON: %q", request)
	} else if name, ok := prefilled["name"]; !ok || name != "" || prefilled["times"] != float64(0) {
		t.Errorf("the form was not pre-filled from the request schema: %q", request)
	}
	do("call", chromedp.SetValue(chromedp.CSS(`#request`), `{"name": "Browser", "times": 1}`), chromedp.Click(chromedp.CSS(`#call`)))
	waitJS("the response", `document.getElementById("response").textContent.includes("Hello, Browser!")`)
	if lat := eval(`document.getElementById("latency").textContent`); !strings.HasSuffix(lat, " ms") {
		t.Errorf("latency %q", lat)
	}
	shot("02-call.png")
	if title := eval(`document.title`); title == "pwned" {
		t.Error("markup from the registry ran in the page")
	}

	// An error answer shows its code.
	do("call with an error", chromedp.SetValue(chromedp.CSS(`#request`), `{"name": ""}`), chromedp.Click(chromedp.CSS(`#call`)))
	waitJS("the error", `document.getElementById("response").textContent.includes("invalid_argument")`)

	// And the service disappears when it stops.
	if err := srv.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	waitJS("greeter gone from the list", `!document.querySelector('#services li[data-service="greeter"]')`)
	shot("03-gone.png")
	t.Logf("screenshots in %s", shots)
}

func TestEvents(t *testing.T) {
	d := newDash(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/_micro/api/events", nil)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Content-Type %q", rsp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(rsp.Body)
	for { // the stream's preamble ends with a blank line
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\n" {
			break
		}
	}
	svc := &registry.Service{Name: "evented", Version: "2", Nodes: []*registry.Node{{ID: "e1", Address: "127.0.0.1:1"}}}
	if err := d.reg.Register(context.Background(), svc, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.reg.Deregister(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	var got []web.Event
	for len(got) < 2 {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(l), "data: "); ok {
			var ev web.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
	}
	if got[0] != (web.Event{Type: "added", Service: "evented", Version: "2"}) || got[1].Type != "removed" {
		t.Fatalf("events %+v", got)
	}
	// Close ends open streams, so that a graceful shutdown does not wait
	// for pages that stay open.
	d.h.Close()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("the stream did not end cleanly on Close: %v", err)
	}
}
