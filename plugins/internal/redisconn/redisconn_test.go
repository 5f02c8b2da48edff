package redisconn_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/plugins/internal/redisconn"
)

func serverURL() string {
	if u := os.Getenv("MICRO_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func TestOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	c, owned, err := redisconn.Open(ctx, "test/redis", serverURL(), "micro-test", nil)
	if err != nil {
		t.Fatalf("Open %s: %v (start Redis there, or set MICRO_TEST_REDIS)", serverURL(), err)
	}
	if !owned {
		t.Error("a client Open made is not owned")
	}
	if name, err := c.ClientGetName(ctx).Result(); err != nil || name != "micro-test" {
		t.Errorf("client name %q, %v; want micro-test", name, err)
	}
	given, owned, err := redisconn.Open(ctx, "test/redis", serverURL(), "micro-test", c)
	if err != nil || given != c || owned {
		t.Errorf("Open with a client = %p, owned %v, %v; want that client, not owned", given, owned, err)
	}
	c.Close()

	_, _, err = redisconn.Open(ctx, "test/redis", "postgres://u:secret@host/db", "x", nil)
	var bad *redisconn.BadURLError
	if !errors.As(err, &bad) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a bad URL = %v; want a *BadURLError without the password", err)
	}

	_, _, err = redisconn.Open(ctx, "test/redis", "redis://u:secret@127.0.0.1:1/0", "x", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "test/redis: cannot reach Redis at redis://u:xxxxx@127.0.0.1:1/0") {
		t.Errorf("Open of a closed port = %v; want the prefix and the URL without its password", err)
	}
}
