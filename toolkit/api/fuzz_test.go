package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/toolkit/api"
)

// FuzzServeHTTP sends arbitrary methods, paths, headers and bodies through
// the gateway: it must answer every one with a status and, for errors, a
// JSON error body, and never panic.
func FuzzServeHTTP(f *testing.F) {
	f.Add("POST", "/greeter/hello", `{"name":"Ada"}`, "Micro-Timeout", "1s")
	f.Add("POST", "/rpc", `{"service":"greeter","endpoint":"Greeter.Hello","request":{}}`, "Micro-Meta-X", "y")
	f.Add("POST", "/rpc", `{"service":`, "", "")
	f.Add("GET", "/health", ``, "Origin", "x")
	f.Add("POST", "/greeter/a/b/c", `[1,2,`, "Micro-Timeout", "-1s")
	f.Add("OPTIONS", "/greeter/hello", ``, "Access-Control-Request-Method", "POST")
	reg := memory.New()
	defer reg.Close()
	reg.Register(context.Background(), &registry.Service{Name: "greeter", Nodes: []*registry.Node{{ID: "n1", Address: "127.0.0.1:1"}},
		Endpoints: []*registry.Endpoint{{Name: "Greeter.Hello"}}}, 0)
	h := api.New(reg, rawCaller{}, api.WithMaxBodySize(4096), api.WithAllowedOrigins("x"))
	defer h.Close()
	f.Fuzz(func(t *testing.T, method, path, body, hk, hv string) {
		req, err := http.NewRequest(method, "http://gw/", bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		req.URL.Path = path
		if validHeaderName(hk) {
			req.Header.Set(hk, hv)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if w.Code >= 400 && !bytes.HasPrefix(w.Body.Bytes(), []byte(`{"code":`)) {
			t.Fatalf("error %d without a JSON error body: %q", w.Code, w.Body.String())
		}
	})
}

// rawCaller answers with the request body.
type rawCaller struct{}

func (rawCaller) Call(ctx context.Context, service, endpoint string, req, rsp any, opts ...client.CallOption) error {
	if r, ok := rsp.(interface{ UnmarshalJSON([]byte) error }); ok {
		if b, ok := req.(interface{ MarshalJSON() ([]byte, error) }); ok {
			data, err := b.MarshalJSON()
			if err != nil {
				return err
			}
			return r.UnmarshalJSON(data)
		}
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
