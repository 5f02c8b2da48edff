package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/toolkit/toolkittest"
	"github.com/seedmicro/micro/toolkit/web"
)

// FuzzHandler sends arbitrary requests to the dashboard (service names in
// paths, call bodies, proxied paths): it must answer each without
// panicking, errors with a JSON body.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/_micro/api/call", `{"service":"s","endpoint":"A.B","request":{"x":1}}`)
	f.Add("POST", "/_micro/api/call", `{"service":`)
	f.Add("GET", "/_micro/api/services/%3Cscript%3E", ``)
	f.Add("GET", "/_micro/api/services", ``)
	f.Add("GET", "/_micro/static/app.js", ``)
	f.Add("GET", "/app/x/y", ``)
	reg := memory.New()
	defer reg.Close()
	reg.Register(context.Background(), &registry.Service{Name: "web.app", Version: "1", Nodes: []*registry.Node{{ID: "a", Address: "bad address\x00"}}}, 0)
	cl := client.New(client.WithRegistry(reg), client.WithRetries(0))
	defer cl.Close()
	h := web.New(reg, cl, web.WithPluginDir(f.TempDir()))
	defer h.Close()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if path == "/_micro/api/events" {
			return // a stream stays open until the client leaves
		}
		toolkittest.ServeFuzzed(t, h, method, path, body, http.Header{"X-Micro-Dashboard": {"1"}}, true)
	})
}
