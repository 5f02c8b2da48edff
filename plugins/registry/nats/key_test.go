package nats

import (
	"strings"
	"testing"
)

func TestNodeKey(t *testing.T) {
	key := nodeKey("go.micro.greeter", "1.0.0", "node-1")
	if key != "go=2Emicro=2Egreeter.1=2E0=2E0.node-1" {
		t.Errorf("nodeKey = %q", key)
	}
	name, version, id, err := parseKey(key)
	if err != nil || name != "go.micro.greeter" || version != "1.0.0" || id != "node-1" {
		t.Errorf("parseKey(%q) = %q %q %q %v", key, name, version, id, err)
	}
	if !strings.HasPrefix(key, strings.TrimSuffix(serviceFilter("go.micro.greeter"), ">")) {
		t.Errorf("serviceFilter does not cover %q", key)
	}
	for _, bad := range []string{"a.b", "a.b.c.d", "a..c", "a.b.c d"} {
		if _, _, _, err := parseKey(bad); err == nil {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}
