package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/core/store"
)

// faultyStore fails Read in the way its key says.
type faultyStore struct{}

func (faultyStore) Read(ctx context.Context, key string) (*store.Record, error) {
	switch key {
	case "missing":
		return nil, fmt.Errorf("no record %q: %w", key, store.ErrNotFound)
	case "exact":
		return nil, store.ErrNotFound
	case "fire":
		return nil, errors.New("disk on fire")
	case "wait":
		<-ctx.Done()
		return nil, ctx.Err()
	case "deadline":
		return nil, fmt.Errorf("backend: %w", context.DeadlineExceeded)
	case "other sentinel":
		return nil, fmt.Errorf("odd: %w", broker.ErrClosed)
	}
	return &store.Record{Key: key, Value: []byte("v")}, nil
}

func (faultyStore) Write(context.Context, *store.Record) error     { return errors.New("read-only") }
func (faultyStore) Delete(context.Context, string) error           { return nil }
func (faultyStore) List(context.Context, string) ([]string, error) { return nil, nil }

func TestErrors(t *testing.T) {
	tests := []struct {
		key     string
		timeout time.Duration
		is      error  // errors.Is(err, is)
		same    bool   // err == is
		not     error  // !errors.Is(err, not)
		msg     string // err.Error()
		code    codes.Code
	}{
		{key: "missing", is: store.ErrNotFound, msg: `no record "missing": store: not found`, code: codes.NotFound},
		{key: "exact", is: store.ErrNotFound, same: true, msg: "store: not found", code: codes.NotFound},
		{key: "fire", not: store.ErrNotFound, msg: "disk on fire", code: codes.Unknown},
		{key: "wait", timeout: 50 * time.Millisecond, is: context.DeadlineExceeded, msg: "context deadline exceeded", code: codes.DeadlineExceeded},
		{key: "deadline", is: context.DeadlineExceeded, msg: "backend: context deadline exceeded", code: codes.DeadlineExceeded},
		// A sentinel of another interface is just an error here.
		{key: "other sentinel", not: broker.ErrClosed, msg: "odd: broker: closed", code: codes.Unknown},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := mode.open(t, plugin.KindStore, "faulty-store").Store()
			for _, tt := range tests {
				t.Run(tt.key, func(t *testing.T) {
					ctx := t.Context()
					if tt.timeout > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, tt.timeout)
						defer cancel()
					}
					_, err := s.Read(ctx, tt.key)
					if err == nil {
						t.Fatal("Read succeeded")
					}
					if tt.is != nil && !errors.Is(err, tt.is) {
						t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
					}
					if tt.same && err != tt.is {
						t.Errorf("Read error = %#v, want the sentinel itself", err)
					}
					if tt.not != nil && errors.Is(err, tt.not) {
						t.Errorf("errors.Is(%v, %v) = true", err, tt.not)
					}
					if err.Error() != tt.msg {
						t.Errorf("message = %q, want %q", err, tt.msg)
					}
					// The sentinels themselves come back as they are,
					// without a status; every other error has one.
					if got := status.Code(err); err != tt.is && got != tt.code {
						t.Errorf("status.Code = %v, want %v", got, tt.code)
					}
				})
			}
			t.Run("cancel", func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(50*time.Millisecond, cancel)
				if _, err := s.Read(ctx, "wait"); !errors.Is(err, context.Canceled) {
					t.Errorf("Read = %v, want context.Canceled", err)
				}
			})
			t.Run("write", func(t *testing.T) {
				err := s.Write(t.Context(), &store.Record{Key: "k"})
				if err == nil || err.Error() != "read-only" {
					t.Errorf("Write = %v, want read-only", err)
				}
			})
		})
	}
}

func TestPluginKilled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pid")
	t.Setenv(envMarker, marker)
	s := mustOpenChild(t, plugin.KindStore, "store", plugin.WithName("store/memory")).Store()
	if _, err := s.List(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(childPID(t, marker), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Read(ctx, "k")
	if err == nil {
		t.Fatal("Read of a killed plugin succeeded")
	}
	t.Logf("after %v: %v", time.Since(start), err)
	if !strings.Contains(err.Error(), "plugin store/memory") || status.Code(err) != codes.Unavailable {
		t.Errorf("Read of a killed plugin = %v (code %v), want an Unavailable error naming the plugin", err, status.Code(err))
	}
	if time.Since(start) > time.Second {
		t.Errorf("Read of a killed plugin took %v", time.Since(start))
	}
}
