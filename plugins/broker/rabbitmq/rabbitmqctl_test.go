package rabbitmq_test

import (
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/broker"
)

// closeConnections closes, with rabbitmqctl on the server, the connections
// whose name starts with prefix, and returns how many it closed.
func closeConnections(t *testing.T, prefix string) int {
	t.Helper()
	// One line per connection: its pid, a tab, and its client properties
	// in Erlang terms, such as {"connection_name","micro-test-… consumer"}.
	out := run(t, "rabbitmqctl", "list_connections", "pid", "client_properties", "--quiet", "--no-table-headers")
	n := 0
	for line := range strings.Lines(string(out)) {
		pid, props, ok := strings.Cut(line, "\t")
		if ok && strings.Contains(props, `{"connection_name","`+prefix) {
			run(t, "rabbitmqctl", "close_connection", pid, "closed by a micro test")
			n++
		}
	}
	return n
}

// TestServerClosesConnections has the server close the broker's
// connections (CONNECTION_FORCED), as an operator or a restarting node
// does: the broker reconnects and restores its subscription.
func TestServerClosesConnections(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.ConnectionName = unique("micro-test-")
	b := f.open(t, cfg)
	topic := unique("forced.")
	r := new(recv)
	if _, err := b.Subscribe(t.Context(), topic, r.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	if n := closeConnections(t, cfg.ConnectionName+" "); n != 2 {
		t.Fatalf("closed %d connections, want 2 (publisher and consumer)", n)
	}
	if err := b.Publish(t.Context(), topic, &broker.Message{ID: "after"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	r.waitID(t, "after")
}
