package mtls

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"

	"go.uber.org/goleak"
)

// TestLaunchTLS: the host's and the plugin's configurations of one launch
// accept each other, and those of another launch are refused.
func TestLaunchTLS(t *testing.T) {
	host, material, err := NewLaunch()
	if err != nil {
		t.Fatal(err)
	}
	server, err := Server(material)
	if err != nil {
		t.Fatal(err)
	}
	otherHost, otherMaterial, err := NewLaunch()
	if err != nil {
		t.Fatal(err)
	}
	otherServer, _ := Server(otherMaterial)

	handshake := func(client, server *tls.Config) error {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(s, server).Handshake() }()
		cerr := tls.Client(c, client).Handshake()
		c.Close()
		serr := <-errc
		if cerr != nil {
			return cerr
		}
		return serr
	}
	if err := handshake(host, server); err != nil {
		t.Errorf("the host and its plugin: %v", err)
	}
	if err := handshake(otherHost, server); err == nil {
		t.Error("the plugin accepted another launch's host")
	}
	if err := handshake(host, otherServer); err == nil {
		t.Error("the host accepted another launch's plugin")
	}
}

// FuzzServerTLS: the plugin's decoding of the TLS material from its host
// link never panics.
func FuzzServerTLS(f *testing.F) {
	_, material, err := NewLaunch()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(material)
	f.Add([]byte(`{"cert": "", "key": "", "host": ""}`))
	f.Add(bytes.Repeat([]byte("{"), 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Server(data)
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
