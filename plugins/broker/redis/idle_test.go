package redis_test

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
	"github.com/seedmicro/micro/plugins/broker/redis"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
)

// clientIDs returns the IDs of the server's connections named name.
func clientIDs(t *testing.T, c *goredis.Client, name string) []string {
	t.Helper()
	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for line := range strings.SplitSeq(list, "\n") {
		var id string
		named := false
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// namedURL is the test server's URL with the client name name.
func namedURL(name string) string {
	sep := "?"
	if strings.Contains(testURL(), "?") {
		sep = "&"
	}
	return testURL() + sep + "client_name=" + name
}

// Issue 12 item 9: an idle subscription with the default Block and
// ClaimInterval (5 s, go-redis's default read timeout) timed out its
// blocking read every few seconds, logged "subscription error; retrying ...
// i/o timeout" and opened a new connection. Idle for 30 s, it now logs
// nothing and keeps its connections.
func TestIdleSubscriptionLogsNothingAndKeepsItsConnection(t *testing.T) {
	prefix := testPrefix(t)
	name := "microtest-idle-" + hex.EncodeToString([]byte(prefix))[:12]
	logs := new(plugintest.Logs)
	b := newBroker(t, redis.Config{Connection: redis.Connection{URL: namedURL(name)}, Prefix: prefix}, redis.WithLogger(logs.Logger()))
	got := new(collector)
	brokertest.Subscribe(t, b, "idle", got.handler)
	brokertest.Subscribe(t, b, "idle", got.handler, broker.Queue("workers"))
	if err := b.Publish(t.Context(), "idle", &broker.Message{Body: []byte("wake")}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, 2, 10*time.Second)
	c := client(t)
	time.Sleep(time.Second)
	before := clientIDs(t, c, name)
	if len(before) < 2 {
		t.Fatalf("%d connections named %s, want at least the two subscriptions'", len(before), name)
	}
	logs.Reset()

	time.Sleep(30 * time.Second)

	if out := logs.String(); out != "" {
		t.Errorf("an idle subscription logged:\n%s", out)
	}
	after := clientIDs(t, c, name)
	var opened []string
	for _, id := range after {
		if !slices.Contains(before, id) {
			opened = append(opened, id)
		}
	}
	if len(opened) > 0 {
		t.Errorf("an idle broker opened %d new connections in 30s (ids %v; before %v)", len(opened), opened, before)
	}
}

// Issue 12 item 9, second part: a duration in the broker's logs reads as a
// duration ("47ms"), not as a number of nanoseconds, also through a JSON
// handler as a plugin process uses.
func TestLoggedDurationsReadAsDurations(t *testing.T) {
	prefix := testPrefix(t)
	logs := new(plugintest.Logs)
	cfg := fastConfig(prefix)
	b := newBroker(t, cfg, redis.WithLogger(logs.Logger()))
	got := new(collector)
	brokertest.Subscribe(t, b, "retry", got.handler, broker.Queue("workers"))
	if err := b.Publish(t.Context(), "retry", &broker.Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, 1, 10*time.Second)
	// Deleting the group makes the next read fail with NOGROUP: the
	// subscription logs the error, how long it waits, and creates the group
	// again.
	c := client(t)
	if err := c.XGroupDestroy(t.Context(), prefix+"retry", "workers").Err(); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitWithin(t, 15*time.Second, "a retry to be logged", func() bool { return strings.Contains(logs.String(), "retry_in") })
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		v, ok := rec["retry_in"]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			t.Errorf("retry_in logged as %v (%T), want a duration such as \"47ms\": %s", v, v, line)
			continue
		}
		if _, err := time.ParseDuration(s); err != nil {
			t.Errorf("retry_in %q is not a duration: %v", s, err)
		}
	}
}
