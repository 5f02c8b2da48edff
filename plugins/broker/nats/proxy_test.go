package nats_test

import (
	"net/url"
	"testing"

	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// proxy forwards TCP connections to the NATS test server, and cuts them on
// demand: what a network failure does to a client.
type proxy struct{ *plugintest.Proxy }

// newProxy starts a proxy to the test server, stopped when t ends.
func newProxy(t testing.TB) proxy {
	t.Helper()
	u, err := url.Parse(serverURL())
	if err != nil {
		t.Fatal(err)
	}
	return proxy{plugintest.NewProxy(t, u.Host)}
}

// URL is the address clients dial instead of the server's.
func (p proxy) URL() string { return "nats://" + p.Addr() }
