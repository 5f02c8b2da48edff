package generator

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/seedmicro/micro/generator/typed"
)

// HandlerFile is the sample handler of the service set; its typed client
// is rendered beside it.
const HandlerFile = "handler/handler.go"

// RenderService renders the service set with d and adds the typed client
// of the sample handler (what micro-new gen writes for it), owned by the
// generator, when the set's meta says it has that handler
// (SetMeta.HandlerClient).
func RenderService(set *Set, d ServiceData) ([]File, error) {
	files, err := set.Render(d)
	if err != nil || !set.Meta.HandlerClient {
		return files, err
	}
	for _, f := range files {
		if f.Path != HandlerFile {
			continue
		}
		c, err := handlerClient(d)
		if err != nil {
			return nil, err
		}
		return append(files, c), nil
	}
	return files, nil
}

// handlerClient renders the client of the sample handler from the facts
// that templates/service/handler/handler.go.tmpl states: the type Ident
// with the endpoint Hello, HelloRequest, HelloResponse and ServiceName.
// TestHandlerClientMatchesGen checks it against micro-new gen's output on
// the rendered project.
func handlerClient(d ServiceData) (File, error) {
	dir := path.Dir(HandlerFile)
	f, err := typed.Render(typed.Source{
		Dir:            dir,
		PkgPath:        path.Join(d.ImportPath, dir),
		PkgName:        path.Base(dir),
		HasServiceName: true,
		Handlers: []typed.SourceHandler{{
			TypeName: d.Ident,
			Endpoints: []typed.SourceEndpoint{{
				Method: "Hello",
				Doc:    "Hello greets req.Name; an empty name is an InvalidArgument error.",
				Req:    "HelloRequest",
				Rsp:    "HelloResponse",
			}},
		}},
	})
	if err != nil {
		return File{}, fmt.Errorf("render the typed client of %s: %w", HandlerFile, err)
	}
	return File{Path: path.Clean(f.Path), Data: f.Content, Owner: OwnerGenerator, Mode: fs.FileMode(0o644)}, nil
}
