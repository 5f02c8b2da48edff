package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/client"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/toolkit/api"
	"github.com/seedmicro/micro/toolkit/toolkittest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gateway starts the test service and a gateway in front of it.
func gateway(t testing.TB, opts ...api.Option) *httptest.Server {
	t.Helper()
	h := handler(t, opts...)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// handler starts the test service and returns a gateway handler calling it.
func handler(t testing.TB, opts ...api.Option) *api.Handler {
	t.Helper()
	ctx := context.Background()
	reg := memory.New()
	srv, err := toolkittest.Start(ctx, reg, "greeter", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(client.WithRegistry(reg))
	h := api.New(reg, cl, opts...)
	t.Cleanup(func() {
		h.Close()
		cl.Close()
		srv.Stop(ctx)
		reg.Close()
	})
	return h
}

// BenchmarkServeHTTP measures the gateway's handler on a 1 KiB echo, the
// call to the service over loopback included, net/http's server excluded.
func BenchmarkServeHTTP(b *testing.B) {
	h := handler(b)
	body := `{"id":1,"text":"` + strings.Repeat("x", 1024-len(`{"id":1,"text":""}`)) + `"}`
	req := httptest.NewRequest(http.MethodPost, "/greeter/echo", nil)
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Body.Len() != len(body) {
			b.Fatalf("status %d, %d bytes: %s", w.Code, w.Body.Len(), w.Body)
		}
	}
}

func post(t *testing.T, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, rsp.Header, string(b)
}

func TestCalls(t *testing.T) {
	ts := gateway(t)
	tests := []struct {
		name, path, body string
		hdr              []string
		status           int
		want             []string // substrings of the body
	}{
		{"one segment", "/greeter/hello", `{"name":"Ada"}`, nil, 200, []string{`"greeting":"Hello, Ada!"`}},
		{"two segments", "/greeter/say/hello", `{"name":"Bob"}`, nil, 200, []string{`Say hello to Bob`}},
		{"dotted endpoint", "/greeter/Greeter.Hello", `{"name":"Cy"}`, nil, 200, []string{`Hello, Cy!`}},
		{"rpc", "/rpc", `{"service":"greeter","endpoint":"Greeter.Hello","request":{"name":"Di"}}`, nil, 200, []string{`Hello, Di!`}},
		{"empty body", "/greeter/say/hello", ``, nil, 200, []string{`Say hello to `}},
		{"invalid argument", "/greeter/hello", `{"name":""}`, nil, 400, []string{`"code":"invalid_argument"`, `"status":400`, `name is empty`}},
		{"handler not found", "/greeter/hello", `{"name":"missing"}`, nil, 404, []string{`"code":"not_found"`, `no such person`}},
		{"unknown service", "/nosuch/hello", `{}`, nil, 404, []string{`"code":"not_found"`, `service \"nosuch\" not found`}},
		{"unknown endpoint", "/greeter/nope", `{}`, nil, 404, []string{`"code":"not_found"`, `no endpoint \"Greeter.Nope\"`, `Greeter.Hello`}},
		{"too many segments", "/greeter/a/b/c", `{}`, nil, 404, []string{`too many segments`}},
		{"malformed json", "/greeter/hello", `{"name": "x",,}`, nil, 400, []string{`"code":"invalid_argument"`, `"offset":14`, `byte offset 14`}},
		{"rpc malformed", "/rpc", `{"service":`, nil, 400, []string{`"offset":`}},
		{"rpc unknown field", "/rpc", `{"svc":"greeter"}`, nil, 400, []string{`unknown field \"svc\"`}},
		{"rpc missing endpoint", "/rpc", `{"service":"greeter"}`, nil, 400, []string{`service and endpoint are required`}},
		{"deadline header", "/greeter/slow", `{"wait":"5s"}`, []string{"Micro-Timeout", "50ms"}, 504, []string{`"code":"deadline_exceeded"`}},
		{"bad deadline header", "/greeter/slow", `{"wait":"1ms"}`, []string{"Micro-Timeout", "soon"}, 400, []string{`Micro-Timeout`, `\"soon\"`}},
		{"metadata headers", "/greeter/meta", `{}`, []string{"Micro-Meta-Tenant", "acme", "X-Other", "no"}, 200, []string{`"tenant":"acme"`, `"deadline":true`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := post(t, ts.URL+tt.path, tt.body, tt.hdr...)
			if status != tt.status {
				t.Fatalf("status %d, want %d; body %s", status, tt.status, body)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
			if strings.Contains(body, "x-other") {
				t.Errorf("a header without the prefix became metadata: %s", body)
			}
			if status >= 400 {
				var e api.Error
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Status != status || e.Code == "" || e.Message == "" {
					t.Errorf("error body %s does not decode into a full api.Error: %v", body, err)
				}
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	ts := gateway(t, api.WithMaxBodySize(64))
	status, _, body := post(t, ts.URL+"/greeter/hello", `{"name":"`+strings.Repeat("a", 100)+`"}`)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "64 bytes") {
		t.Fatalf("status %d body %s, want 413 naming the limit", status, body)
	}
	if status, _, _ := post(t, ts.URL+"/greeter/hello", `{"name":"a"}`); status != 200 {
		t.Fatalf("small body: status %d", status)
	}
}

func TestHealthAndMethods(t *testing.T) {
	ts := gateway(t)
	rsp, err := http.Get(ts.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("/health: %d %s", rsp.StatusCode, b)
	}
	rsp, err = http.Get(ts.URL + "/greeter/hello")
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusMethodNotAllowed || rsp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET on an endpoint: %d Allow=%q", rsp.StatusCode, rsp.Header.Get("Allow"))
	}
}

func TestCORS(t *testing.T) {
	preflight := func(url, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, url+"/greeter/hello", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, micro-meta-tenant")
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		return rsp
	}
	t.Run("off by default", func(t *testing.T) {
		ts := gateway(t)
		rsp := preflight(ts.URL, "https://app.example")
		if rsp.Header.Get("Access-Control-Allow-Origin") != "" || rsp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("CORS answered while off: %d %v", rsp.StatusCode, rsp.Header)
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		ts := gateway(t, api.WithAllowedOrigins("https://app.example"))
		rsp := preflight(ts.URL, "https://app.example")
		if rsp.StatusCode != http.StatusNoContent || rsp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			!strings.Contains(rsp.Header.Get("Access-Control-Allow-Headers"), "micro-meta-tenant") {
			t.Fatalf("preflight: %d %v", rsp.StatusCode, rsp.Header)
		}
		_, h, _ := post(t, ts.URL+"/greeter/hello", `{"name":"a"}`, "Origin", "https://app.example")
		if h.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("POST from allowed origin lacks the header: %v", h)
		}
		rsp = preflight(ts.URL, "https://evil.example")
		if rsp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("other origin allowed: %v", rsp.Header)
		}
	})
}

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[merrors.Code]int{
		merrors.NotFound: 404, merrors.InvalidArgument: 400, merrors.DeadlineExceeded: 504,
		merrors.Unavailable: 503, merrors.PermissionDenied: 403, merrors.Unauthenticated: 401,
		merrors.Internal: 500, merrors.ResourceExhausted: 429, merrors.Unimplemented: 501,
	} {
		t.Run(code.String(), func(t *testing.T) {
			if got := api.HTTPStatus(code); got != want {
				t.Fatalf("HTTPStatus(%s) = %d, want %d", code, got, want)
			}
			if back := api.CodeOfStatus(want); back != code && !(code == merrors.Internal) {
				t.Fatalf("CodeOfStatus(%d) = %s, want %s", want, back, code)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct{ path, svc, ep, err string }{
		{"/greeter/hello", "greeter", "Greeter.Hello", ""},
		{"/greeter/say/hello", "greeter", "Say.Hello", ""},
		{"/user-store/get-user", "user-store", "UserStore.GetUser", ""},
		{"/go.micro.greeter/hello", "go.micro.greeter", "Greeter.Hello", ""},
		{"/greeter/Greeter.Hello", "greeter", "Greeter.Hello", ""},
		{"/greeter", "", "", "names no endpoint"},
		{"/a/b/c/d", "", "", "too many segments"},
		{"/a//b", "", "", "empty segment"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			svc, ep, err := api.ParsePath(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || svc != tt.svc || ep != tt.ep {
				t.Fatalf("ParsePath = %q %q %v, want %q %q", svc, ep, err, tt.svc, tt.ep)
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	ctx := context.Background()
	reg := memory.New()
	srv, err := toolkittest.Start(ctx, reg, "greeter", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	defer srv.Stop(ctx)
	cl := client.New(client.WithRegistry(reg))
	defer cl.Close()
	h := api.New(reg, cl)
	defer h.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- api.Serve(sctx, l, h, 5*time.Second) }()
	url := "http://" + l.Addr().String()
	// A call in flight when shutdown starts still gets its answer.
	got := make(chan string, 1)
	go func() {
		_, _, body := post(t, url+"/greeter/slow", `{"wait":"300ms"}`)
		got <- body
	}()
	time.Sleep(100 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if body := <-got; !strings.Contains(body, "waited 300ms") {
		t.Fatalf("in-flight call during shutdown: %s", body)
	}
	if _, err := http.Post(url+"/health", "application/json", nil); err == nil {
		t.Fatal("the gateway still accepts connections after shutdown")
	}
	http.DefaultClient.CloseIdleConnections()
}
