package typed

import (
	"fmt"
	"go/token"
	"go/types"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/seedmicro/micro/core/server"
)

// Source describes a handler package from what is known of it without
// loading it: the handler types, their endpoints and the names of their
// request and response types. micro-new service renders the client of the
// handler it scaffolds from a Source, so that the client is part of the
// plan without type-checking the project first; Render gives the same
// file as Plan on the package described.
type Source struct {
	// Dir is the handler package's directory; the client is written in
	// Dir/<PkgName>client.
	Dir string
	// PkgPath and PkgName are the handler package's import path and name.
	PkgPath, PkgName string
	// HasServiceName tells that the package declares a string constant
	// ServiceName, which the client then uses as its default service.
	HasServiceName bool
	// Handlers are the handler types, in the order Plan finds them (by
	// name).
	Handlers []SourceHandler
}

// SourceHandler is a handler type of a Source.
type SourceHandler struct {
	TypeName  string
	Endpoints []SourceEndpoint
}

// SourceEndpoint is an endpoint: a method func(ctx, *Req, *Rsp) error
// where Req and Rsp are exported types of the handler package, or a
// stream endpoint with those request and response messages.
type SourceEndpoint struct {
	Method string
	// Doc is the method's doc comment text, as go/ast's CommentGroup.Text
	// gives it.
	Doc      string
	Req, Rsp string
	// Stream is the endpoint's stream kind: "" for a unary endpoint,
	// server.StreamServer for func(ctx, *Req, server.ServerStream[Rsp])
	// error, server.StreamBidi for func(ctx, server.BidiStream[Req, Rsp])
	// error.
	Stream string
}

// Render renders the client of the package s describes.
func Render(s Source) (File, error) {
	if s.PkgName == "" || s.PkgPath == "" {
		return File{}, fmt.Errorf("typed.Render: the handler package's name and import path are required")
	}
	if s.PkgName == "main" {
		return File{}, fmt.Errorf("typed.Render: package %s is a main package, which a client cannot import: move the handlers to their own package", s.PkgPath)
	}
	pkg := types.NewPackage(s.PkgPath, s.PkgName)
	m := &model{dir: filepath.Clean(s.Dir), pkgName: s.PkgName, pkgPath: s.PkgPath, clientName: s.PkgName + "client"}
	m.q = newQualifier(pkg, m.clientName)
	name := m.q.pkg(pkg)
	for _, h := range s.Handlers {
		if !token.IsExported(h.TypeName) {
			return File{}, fmt.Errorf("typed.Render: handler type %q is not exported", h.TypeName)
		}
		hm := &handler{typeName: h.TypeName}
		for _, e := range h.Endpoints {
			for _, id := range []string{e.Method, e.Req, e.Rsp} {
				if !token.IsExported(id) {
					return File{}, fmt.Errorf("typed.Render: %s.%s: %q is not an exported identifier", h.TypeName, e.Method, id)
				}
			}
			if e.Stream != "" && e.Stream != server.StreamServer && e.Stream != server.StreamBidi {
				return File{}, fmt.Errorf("typed.Render: %s.%s: stream kind %q: use \"\" (unary), server.StreamServer (%q) or server.StreamBidi (%q)", h.TypeName, e.Method, e.Stream, server.StreamServer, server.StreamBidi)
			}
			hm.endpoints = append(hm.endpoints, &endpoint{method: e.Method, doc: strings.TrimSpace(e.Doc), req: name + "." + e.Req, rsp: name + "." + e.Rsp, stream: e.Stream})
		}
		m.handlers = append(m.handlers, hm)
	}
	m.serviceExpr = strconv.Quote(s.PkgName)
	if s.HasServiceName {
		m.serviceExpr = name + ".ServiceName"
	}
	return render(m)
}
