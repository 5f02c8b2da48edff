package metadata_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/seedmicro/micro/core/metadata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContextIsolation(t *testing.T) {
	md := metadata.New("Trace-ID", "abc")
	ctx := metadata.NewContext(context.Background(), md)
	md.Set("trace-id", "changed")
	if v, _ := metadata.Get(ctx, "TRACE-ID"); v != "abc" {
		t.Fatalf("context metadata changed with the caller's map: %q", v)
	}
	ctx2 := metadata.AppendToContext(ctx, "User", "ada", "trace-id", "def")
	if v, _ := metadata.Get(ctx2, "trace-id"); v != "def" {
		t.Fatalf("append did not override: %q", v)
	}
	if v, _ := metadata.Get(ctx, "trace-id"); v != "abc" {
		t.Fatalf("append changed the parent context: %q", v)
	}
	if _, ok := metadata.Get(context.Background(), "x"); ok {
		t.Fatal("empty context has metadata")
	}
}

func TestNewPanicsOnOddPairs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New with an odd number of arguments did not panic")
		}
	}()
	metadata.New("a")
}

func ExampleAppendToContext() {
	ctx := metadata.AppendToContext(context.Background(), "X-Request-Id", "r-1")
	v, _ := metadata.Get(ctx, "x-request-id")
	fmt.Println(v)
	// Output: r-1
}
