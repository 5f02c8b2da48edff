package typed_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/generator/typed"
)

// plainSource describes testdata/plain as typed.Render takes it.
func plainSource(dir string) typed.Source {
	return typed.Source{
		Dir: dir, PkgPath: "github.com/seedmicro/micro/generator/typed/testdata/plain", PkgName: "plain",
		HasServiceName: true,
		Handlers: []typed.SourceHandler{{
			TypeName: "Greeter",
			// Plan orders the endpoints by name.
			Endpoints: []typed.SourceEndpoint{
				{Method: "Count", Req: "CountRequest", Rsp: "CountResponse"},
				{Method: "Hello", Doc: "Hello greets req.Name.\n\nAn empty name is an error.\n", Req: "HelloRequest", Rsp: "HelloResponse"},
			},
		}},
	}
}

// TestRenderMatchesPlan checks that a Source gives the file Plan gives for
// the package it describes, path and content.
func TestRenderMatchesPlan(t *testing.T) {
	res, err := typed.Plan(context.Background(), ".", "./testdata/plain")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 {
		t.Fatalf("Plan: %d files, want 1", len(res.Files))
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "plain"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := typed.Render(plainSource(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := res.Files[0]
	if got.Path != want.Path {
		t.Errorf("Render path %s, Plan path %s", got.Path, want.Path)
	}
	if got.Package != want.Package {
		t.Errorf("Render package %s, Plan package %s", got.Package, want.Package)
	}
	if !bytes.Equal(got.Content, want.Content) {
		t.Errorf("Render and Plan differ:\n--- Render\n%s\n--- Plan\n%s", got.Content, want.Content)
	}
}

func TestRenderRefusesBadSources(t *testing.T) {
	tests := []struct {
		name   string
		change func(*typed.Source)
		want   string
	}{
		{"no package name", func(s *typed.Source) { s.PkgName = "" }, "name and import path are required"},
		{"main package", func(s *typed.Source) { s.PkgName = "main" }, "move the handlers to their own package"},
		{"unexported handler", func(s *typed.Source) { s.Handlers[0].TypeName = "greeter" }, `handler type "greeter" is not exported`},
		{"unexported request", func(s *typed.Source) { s.Handlers[0].Endpoints[0].Req = "countRequest" }, `"countRequest" is not an exported identifier`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plainSource("plain")
			tt.change(&s)
			_, err := typed.Render(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
