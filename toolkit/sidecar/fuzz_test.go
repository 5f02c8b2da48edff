package sidecar_test

import (
	"context"
	"testing"

	brokermem "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/toolkit/sidecar"
	"github.com/seedmicro/micro/toolkit/toolkittest"
)

// FuzzHandler sends arbitrary requests to the sidecar's HTTP API, which
// decodes registrations, subscriptions, calls and events from programs: it
// must answer each with a status (an error with a JSON body) and never
// panic.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/register", `{"name":"a","address":"http://127.0.0.1:1","endpoints":["A.B",{"name":"C.D","request":{"name":"R","type":"R","fields":[{"name":"x","type":"int"}]}}]}`)
	f.Add("POST", "/register", `{"name":"a","address":"ftp://x","endpoints":[1]}`)
	f.Add("POST", "/deregister", `{"name":"a"}`)
	f.Add("POST", "/subscribe", `{"topic":"t","callback":"http://127.0.0.1:1/e"}`)
	f.Add("POST", "/publish/t", `{"a":1}`)
	f.Add("POST", "/call", `{"service":"s","endpoint":"A.B","request":{}}`)
	f.Add("DELETE", "/subscribe/abc", ``)
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	b := brokermem.New()
	defer b.Close(ctx)
	cl := client.New(client.WithRegistry(reg), client.WithBroker(b), client.WithRetries(0))
	defer cl.Close()
	// Not started: a registration is decoded and checked, then refused
	// for want of an RPC address, so that no background work piles up.
	sc := sidecar.New(reg, b, cl)
	defer sc.Close(ctx)
	h := sc.Handler()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method == "GET" {
			return // a stream stays open until the client leaves
		}
		toolkittest.ServeFuzzed(t, h, method, path, body, nil, false)
	})
}
