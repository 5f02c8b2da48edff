package typed_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/server"
	"github.com/seedmicro/micro/generator/typed"
)

// oneHandler describes a fixture package of this module with a
// ServiceName constant and one handler type, whose endpoints are given in
// the order Plan finds them (by name).
func oneHandler(dir, rel, typeName string, endpoints ...typed.SourceEndpoint) typed.Source {
	return typed.Source{
		Dir: dir, PkgPath: "github.com/seedmicro/micro/generator/typed/" + rel, PkgName: filepath.Base(rel),
		HasServiceName: true,
		Handlers:       []typed.SourceHandler{{TypeName: typeName, Endpoints: endpoints}},
	}
}

// plainSource describes testdata/plain as typed.Render takes it.
func plainSource(dir string) typed.Source {
	return oneHandler(dir, "testdata/plain", "Greeter",
		typed.SourceEndpoint{Method: "Count", Req: "CountRequest", Rsp: "CountResponse"},
		typed.SourceEndpoint{Method: "Hello", Doc: "Hello greets req.Name.\n\nAn empty name is an error.\n", Req: "HelloRequest", Rsp: "HelloResponse"},
	)
}

// feedSource describes internal/feed, the stream fixture.
func feedSource(dir string) typed.Source {
	return oneHandler(dir, "internal/feed", "Feed",
		typed.SourceEndpoint{Method: "Add", Doc: "Add sums the numbers sent, and answers once the client half-closed: a\nclient stream. A negative number ends the stream with an InvalidArgument\nerror.\n", Req: "Number", Rsp: "Sum", Stream: server.StreamBidi},
		typed.SourceEndpoint{Method: "Latest", Doc: "Latest returns the latest event of req.Topic.\n", Req: "WatchRequest", Rsp: "Event"},
		typed.SourceEndpoint{Method: "Shout", Doc: "Shout answers each line with the line in capitals: a bidirectional\nstream. The line \"stop\" ends it with an Aborted error.\n", Req: "Line", Rsp: "Line", Stream: server.StreamBidi},
		typed.SourceEndpoint{Method: "Watch", Doc: "Watch sends req.Count events of req.Topic, numbered from 1: a server\nstream.\n", Req: "WatchRequest", Rsp: "Event", Stream: server.StreamServer},
	)
}

// TestRenderMatchesPlan checks that a Source gives the file Plan gives for
// the package it describes, path and content.
func TestRenderMatchesPlan(t *testing.T) {
	for _, tt := range []struct {
		dir    string
		source func(dir string) typed.Source
	}{
		{filepath.Join("testdata", "plain"), plainSource},
		{filepath.Join("internal", "feed"), feedSource},
	} {
		t.Run(tt.dir, func(t *testing.T) {
			res, err := typed.Plan(context.Background(), ".", "./"+filepath.ToSlash(tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 1 {
				t.Fatalf("Plan: %d files, want 1", len(res.Files))
			}
			dir, err := filepath.Abs(tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := typed.Render(tt.source(dir))
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
		})
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
		{"unknown stream kind", func(s *typed.Source) { s.Handlers[0].Endpoints[0].Stream = "client" }, `Greeter.Count: stream kind "client": use "" (unary), server.StreamServer ("server") or server.StreamBidi ("bidi")`},
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
