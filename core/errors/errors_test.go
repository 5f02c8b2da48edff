package errors_test

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"testing"

	"github.com/seedmicro/micro/core/errors"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want errors.Code
	}{
		{"nil", nil, errors.OK},
		{"typed", errors.New(errors.NotFound, "no such user"), errors.NotFound},
		{"wrapped typed", fmt.Errorf("lookup: %w", errors.New(errors.PermissionDenied, "no")), errors.PermissionDenied},
		{"deadline", context.DeadlineExceeded, errors.DeadlineExceeded},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), errors.Canceled},
		{"plain", io.EOF, errors.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.CodeOf(tt.err); got != tt.want {
				t.Fatalf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestIsAndAs(t *testing.T) {
	err := fmt.Errorf("handler: %w", errors.Errorf(errors.NotFound, "user %d: %w", 7, io.EOF))
	if !stderrors.Is(err, errors.New(errors.NotFound, "")) {
		t.Error("errors.Is does not match on the code")
	}
	if stderrors.Is(err, errors.New(errors.Internal, "")) {
		t.Error("errors.Is matched a different code")
	}
	if !stderrors.Is(err, io.EOF) {
		t.Error("the %w cause is not in the chain")
	}
	var e *errors.Error
	if !stderrors.As(err, &e) || e.Message() != "user 7: EOF" {
		t.Fatalf("As: %v %q", e, e.Message())
	}
	if got := e.Error(); got != "not_found: user 7: EOF" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestCodeNamesRoundTrip(t *testing.T) {
	for c := errors.OK; c <= errors.Unauthenticated; c++ {
		got, ok := errors.ParseCode(c.String())
		if !ok || got != c {
			t.Errorf("ParseCode(%q) = %v, %v", c.String(), got, ok)
		}
	}
	if _, ok := errors.ParseCode("nope"); ok {
		t.Error("ParseCode accepted an unknown name")
	}
}

func ExampleCodeOf() {
	err := fmt.Errorf("get user: %w", errors.New(errors.NotFound, "user 42 not found"))
	fmt.Println(errors.CodeOf(err))
	fmt.Println(errors.CodeOf(context.DeadlineExceeded))
	// Output:
	// not_found
	// deadline_exceeded
}
