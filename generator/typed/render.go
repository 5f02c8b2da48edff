package typed

import (
	"bytes"
	"embed"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/seedmicro/micro/core/server"
	"github.com/seedmicro/micro/generator/internal/gosrc"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var clientTemplate = template.Must(template.ParseFS(templateFS, "templates/client.go.tmpl"))

type handlerData struct {
	TypeName, Client, Ctor string
	Endpoints              []endpointData
}

type endpointData struct {
	Method, Const, Doc, Req, Rsp string
	// Stream names the stream type of a stream endpoint; ServerStream
	// tells a server stream from a client or bidirectional one.
	Stream       string
	ServerStream bool
}

type topicData struct {
	Name, Const, Expr, Value, Type, Subs string
}

type fileData struct {
	Header, PkgPath, PkgName, ClientName, ServiceExpr string
	Version                                           int
	Streams                                           bool // some endpoint is a stream
	Imports                                           [][2]string
	Handlers                                          []handlerData
	Topics                                            []topicData
}

// render turns m into the client's file.
func render(m *model) (File, error) {
	d := fileData{
		Header: Header, PkgPath: m.pkgPath, PkgName: m.pkgName, ClientName: m.clientName,
		ServiceExpr: m.serviceExpr, Version: Version,
	}
	for _, h := range m.handlers {
		hd := handlerData{TypeName: h.typeName, Client: "Client", Ctor: "New"}
		if len(m.handlers) > 1 {
			hd.Client, hd.Ctor = h.typeName+"Client", "New"+h.typeName
		}
		for _, e := range h.endpoints {
			doc := e.doc
			if doc == "" {
				verb := "calls"
				if e.stream != "" {
					verb = "opens a stream to"
				}
				doc = fmt.Sprintf("%s %s %s.%s.", e.method, verb, h.typeName, e.method)
			}
			ed := endpointData{
				Method: e.method, Const: h.typeName + e.method + "Endpoint", Doc: comment(doc), Req: e.req, Rsp: e.rsp,
			}
			if e.stream != "" {
				d.Streams = true
				ed.Stream, ed.ServerStream = h.typeName+e.method+"Stream", e.stream == server.StreamServer
			}
			hd.Endpoints = append(hd.Endpoints, ed)
		}
		d.Handlers = append(d.Handlers, hd)
	}
	for _, t := range m.topics {
		d.Topics = append(d.Topics, topicData{
			Name: t.name, Const: t.name + "Topic", Expr: t.expr, Value: t.value, Type: t.typ,
			Subs: strings.Join(qualifyAll(m.pkgName, t.subs), " and "),
		})
	}
	// Computed last: rendering the types above registered their packages.
	d.Imports = m.q.imports()
	var buf bytes.Buffer
	if err := clientTemplate.Execute(&buf, d); err != nil {
		return File{}, fmt.Errorf("render the client: %w", err)
	}
	name := m.clientName + ".micro.go"
	src, err := formatSource(name, buf.Bytes())
	if err != nil {
		return File{}, err
	}
	return File{Path: filepath.Join(m.dir, m.clientName, name), Package: m.pkgPath, Content: src}, nil
}

func qualifyAll(pkg string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pkg + "." + n
	}
	return out
}

// comment turns text into // lines.
func comment(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = "//"
		} else {
			lines[i] = "// " + l
		}
	}
	return strings.Join(lines, "\n")
}

// formatSource removes the imports src does not use and formats it. It
// never adds an import: the template names every package it refers to.
func formatSource(name string, src []byte) ([]byte, error) {
	if _, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ParseComments); err != nil {
		return nil, fmt.Errorf("generated code for %s does not parse (a bug in the generator): %w\n%s", name, err, src)
	}
	out, err := gosrc.Format(name, src)
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", name, err)
	}
	return out, nil
}
