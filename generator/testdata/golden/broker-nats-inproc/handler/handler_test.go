package handler_test

import (
	"context"
	"testing"

	"github.com/seedmicro/micro/core/errors"

	"example.com/greeter/handler"
)

func TestHello(t *testing.T) {
	tests := []struct {
		name     string
		req      string
		want     string
		wantCode errors.Code
	}{
		{name: "greets", req: "Ada", want: "Hello, Ada!"},
		{name: "refuses an empty name", req: "", wantCode: errors.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rsp handler.HelloResponse
			err := (&handler.Greeter{}).Hello(context.Background(), &handler.HelloRequest{Name: tt.req}, &rsp)
			if tt.wantCode != errors.OK {
				if got := errors.CodeOf(err); got != tt.wantCode {
					t.Fatalf("Hello(%q): code %v, want %v (error %v)", tt.req, got, tt.wantCode, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Hello(%q): %v", tt.req, err)
			}
			if rsp.Greeting != tt.want {
				t.Fatalf("Hello(%q) = %q, want %q", tt.req, rsp.Greeting, tt.want)
			}
		})
	}
}
