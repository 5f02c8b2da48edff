package redis_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

// redisCLI runs redis-cli against the test server and returns its output.
func redisCLI(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found: install Redis's command-line tools (apt-get install redis-tools): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append([]string{"-u", testURL()}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A message added with redis-cli XADD in the documented format reaches a
// subscriber.
func TestInteropXADD(t *testing.T) {
	prefix := testPrefix(t)
	b := newBroker(t, fastConfig(prefix))
	got := new(collector)
	brokertest.Subscribe(t, b, "orders", got.handler)

	redisCLI(t, "XADD", prefix+"orders", "*",
		"id", "order-1", "h:Content-Type", "application/json", "h:X-Tenant", "acme", "body", `{"total":10}`)
	entryID := strings.TrimSpace(redisCLI(t, "XADD", prefix+"orders", "*", "body", "no id"))

	msgs := got.wait(t, 2, 10*time.Second)
	first, second := msgs[0], msgs[1]
	if first.ID != "order-1" || string(first.Body) != `{"total":10}` ||
		first.Header["Content-Type"] != "application/json" || first.Header["X-Tenant"] != "acme" ||
		first.Header[broker.DeliveryHeader] != "1" {
		t.Errorf("first message = %+v", first)
	}
	if second.ID != entryID || string(second.Body) != "no id" {
		t.Errorf("second message = %+v; want the entry ID %s as its ID", second, entryID)
	}
}

// What micro publishes reads with redis-cli XRANGE as the documented fields.
func TestInteropXRANGE(t *testing.T) {
	prefix := testPrefix(t)
	b := newBroker(t, fastConfig(prefix))
	err := b.Publish(t.Context(), "orders", &broker.Message{
		ID:     "order-2",
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello from micro"),
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(redisCLI(t, "XRANGE", prefix+"orders", "-", "+")), "\n")
	// Raw output: the entry ID, then field and value lines.
	if len(lines) != 7 {
		t.Fatalf("XRANGE output:\n%s\nwant an entry ID and three fields", strings.Join(lines, "\n"))
	}
	fields := make(map[string]string)
	for i := 1; i+1 < len(lines); i += 2 {
		fields[lines[i]] = lines[i+1]
	}
	want := map[string]string{
		redis.FieldID:                            "order-2",
		redis.HeaderFieldPrefix + "Content-Type": "text/plain",
		redis.FieldBody:                          "hello from micro",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("field %q = %q, want %q (output:\n%s)", k, fields[k], v, strings.Join(lines, "\n"))
		}
	}
	if lines[len(lines)-2] != redis.FieldBody {
		t.Errorf("body is not the last field:\n%s", strings.Join(lines, "\n"))
	}
}
