package generator_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/seedmicro/micro/generator"
)

// TestRenderServiceAddsTheClientOnlyWhenTheSetSaysSo: a set whose
// template.json has handler_client gets the typed client of its handler,
// generator-owned; one without it (a handler of the user's own shape) does
// not.
func TestRenderServiceAddsTheClientOnlyWhenTheSetSaysSo(t *testing.T) {
	const clientPath = "handler/handlerclient/handlerclient.micro.go"
	tests := []struct {
		name, meta string
		want       bool
	}{
		{"flag set", `{"kind": "service", "handler_client": true}`, true},
		{"flag absent", `{"kind": "service"}`, false},
	}
	a := generator.Answers{Name: "greeter", Module: "example.com/greeter", ImportPath: "example.com/greeter",
		CoreVersion: generator.DevelVersion, GoVersion: "1.26", Plugins: generator.ModeInProcess}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := generator.LoadSet(fstest.MapFS{
				"template.json":           {Data: []byte(tt.meta)},
				"handler/handler.go.tmpl": {Data: []byte("package handler\n")},
			})
			if err != nil {
				t.Fatal(err)
			}
			files, err := generator.RenderService(set, generator.NewServiceData(a))
			if err != nil {
				t.Fatal(err)
			}
			var got *generator.File
			for i := range files {
				if files[i].Path == clientPath {
					got = &files[i]
				}
			}
			if (got != nil) != tt.want {
				t.Fatalf("client rendered: %v, want %v (files %d)", got != nil, tt.want, len(files))
			}
			if got == nil {
				return
			}
			if got.Owner != generator.OwnerGenerator {
				t.Errorf("client owner %q, want %q", got.Owner, generator.OwnerGenerator)
			}
			for _, want := range []string{`"example.com/greeter/handler"`, "func (x *Client) Hello(ctx context.Context, req *handler.HelloRequest", `GreeterHelloEndpoint = "Greeter.Hello"`} {
				if !strings.Contains(string(got.Data), want) {
					t.Errorf("client lacks %q:\n%s", want, got.Data)
				}
			}
		})
	}
}
