package typed

import (
	"context"
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/go/packages"

	"github.com/seedmicro/micro/core/server"
)

const (
	directiveSubscribe = "//micro:subscribe"
	directiveIgnore    = "//micro:ignore"
)

func load(ctx context.Context, dir string, patterns []string) ([]*packages.Package, error) {
	cfg := &packages.Config{
		Context: ctx,
		Dir:     dir,
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
			packages.NeedTypes | packages.NeedTypesInfo,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", strings.Join(patterns, " "), err)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })
	return pkgs, nil
}

// model is what a package's client is rendered from.
type model struct {
	dir         string // the handler package's directory
	pkgName     string
	pkgPath     string
	clientName  string // package name of the client
	serviceExpr string // Go expression of the default service name
	handlers    []*handler
	topics      []*topic
	q           *qualifier
}

type handler struct {
	typeName  string
	endpoints []*endpoint
}

type endpoint struct {
	method string
	doc    string
	req    string // Go type of the request messages, qualified for the client
	rsp    string // Go type of the response messages
	stream string // "" (unary), server.StreamServer or server.StreamBidi
}

type topic struct {
	name  string // Publish<name>
	expr  string // Go expression of the topic
	value string
	typ   string
	subs  []string // subscribers, for the doc
}

func isContext(t types.Type) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "context" && n.Obj().Name() == "Context"
}

func isError(t types.Type) bool { return types.Identical(t, types.Universe.Lookup("error").Type()) }

// analyze finds the handlers and subscribers of p. It returns a nil model
// when p has none, the diagnostics of methods and functions that look
// meant as endpoints or subscribers but are not, and the errors for which
// nothing may be written for p.
func analyze(p *packages.Package) (*model, []Diagnostic, []string) {
	var errs []string
	for _, e := range p.Errors {
		errs = append(errs, e.Error())
	}
	if len(errs) > 0 || p.Types == nil {
		if len(errs) == 0 {
			errs = append(errs, "no type information")
		}
		return nil, nil, errs
	}
	m := &model{pkgName: p.Name, pkgPath: p.PkgPath, clientName: p.Name + "client"}
	if len(p.GoFiles) > 0 {
		m.dir = dirOf(p.GoFiles[0])
	}
	m.q = newQualifier(p.Types, m.clientName)
	var diags []Diagnostic
	diag := func(pos token.Pos, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: p.Fset.Position(pos), Message: fmt.Sprintf(format, args...)})
	}
	// Declarations of methods and functions, for their doc comments, and
	// the named types declared in hand-written files.
	decls := map[types.Object]*ast.FuncDecl{}
	var named []*types.TypeName
	ignored := map[*types.TypeName]bool{}
	var funcs []*ast.FuncDecl
	for _, f := range p.Syntax {
		generated := ast.IsGenerated(f)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if obj := p.TypesInfo.Defs[d.Name]; obj != nil {
					decls[obj] = d
				}
				if d.Recv == nil && !generated {
					funcs = append(funcs, d)
				}
			case *ast.GenDecl:
				if d.Tok != token.TYPE || generated {
					continue
				}
				for _, s := range d.Specs {
					ts := s.(*ast.TypeSpec)
					tn, ok := p.TypesInfo.Defs[ts.Name].(*types.TypeName)
					if !ok || tn.IsAlias() || !tn.Exported() {
						continue
					}
					named = append(named, tn)
					if hasDirective(ts.Doc, directiveIgnore) || (len(d.Specs) == 1 && hasDirective(d.Doc, directiveIgnore)) {
						ignored[tn] = true
					}
				}
			}
		}
	}
	topics := map[string]*topic{}
	addTopic := func(pos token.Pos, sub string, doc *ast.CommentGroup, ev types.Type, name string) {
		arg, ok := directiveArg(doc, directiveSubscribe)
		if !ok {
			return
		}
		expr, value, err := m.topicOf(p.Types, arg)
		if err != nil {
			diag(pos, "%s: %v", sub, err)
			return
		}
		typ, err := m.typeName(pointee(ev), "event")
		if err != nil {
			diag(pos, "%s is not a subscriber: %v", sub, err)
			return
		}
		if t, ok := topics[value]; ok {
			if t.typ != typ {
				errs = append(errs, fmt.Sprintf("%s: topic %q is taken by subscribers of %s and of %s; one topic carries one event type", p.Fset.Position(pos), value, t.typ, typ))
				return
			}
			t.subs = append(t.subs, sub)
			return
		}
		topics[value] = &topic{name: name, expr: expr, value: value, typ: typ, subs: []string{sub}}
	}
	for _, tn := range named {
		nt, ok := tn.Type().(*types.Named)
		if !ok || ignored[tn] || nt.TypeParams().Len() > 0 {
			continue
		}
		if _, isIface := nt.Underlying().(*types.Interface); isIface {
			continue
		}
		ms := types.NewMethodSet(types.NewPointer(nt))
		h := &handler{typeName: tn.Name()}
		var later, adds []func() // diagnostics for handlers; subscribers and strong diagnostics
		subscribes := false
		for i := 0; i < ms.Len(); i++ {
			fn, ok := ms.At(i).Obj().(*types.Func)
			if !ok || !fn.Exported() {
				continue
			}
			sig := fn.Type().(*types.Signature)
			fd := decls[fn]
			var doc *ast.CommentGroup
			if fd != nil {
				doc = fd.Doc
			}
			pos := fn.Pos()
			full := tn.Name() + "." + fn.Name()
			if _, ok := directiveArg(doc, directiveSubscribe); ok {
				subscribes = true
				if why := subscriberShape(sig); why != "" {
					adds = append(adds, func() { diag(pos, "%s has a %s line but is not a subscriber: %s", full, directiveSubscribe, why) })
					continue
				}
				adds = append(adds, func() {
					addTopic(pos, full, doc, sig.Params().At(1).Type(), publisherName(fn.Name(), sig.Params().At(1).Type()))
				})
				continue
			}
			kind, reqT, rspT, why := streamShape(sig)
			if kind == "" {
				why = endpointShape(sig)
				if why == "" {
					reqT, rspT = pointee(sig.Params().At(1).Type()), pointee(sig.Params().At(2).Type())
				}
			} else if why != "" {
				// A method that takes a server stream type is meant as an
				// endpoint, whether or not its type has others.
				adds = append(adds, func() { diag(pos, "%s is not a stream endpoint: %s", full, why) })
				continue
			}
			if why == "" {
				req, err1 := m.typeName(reqT, "request")
				rsp, err2 := m.typeName(rspT, "response")
				if err1 != nil || err2 != nil {
					err := err1
					if err == nil {
						err = err2
					}
					later = append(later, func() { diag(pos, "%s is not an endpoint: %v", full, err) })
					continue
				}
				h.endpoints = append(h.endpoints, &endpoint{method: fn.Name(), doc: docText(doc), req: req, rsp: rsp, stream: kind})
				continue
			}
			if !looksMeant(sig) {
				continue
			}
			if subscriberShape(sig) == "" {
				why = "it has the shape of a subscriber, func(ctx context.Context, ev *T) error, but no " + directiveSubscribe + " TOPIC line in its doc comment"
			}
			d := func() { diag(pos, "%s is not an endpoint: %s", full, why) }
			if almostEndpoint(sig) {
				// Reported even when the type has no endpoint: a handler
				// whose every method misses the shape is still a handler.
				adds = append(adds, d)
			} else {
				later = append(later, d)
			}
		}
		// Diagnostics of other types' methods are noise: a type is
		// reported on only when it is a handler or subscribes.
		if len(h.endpoints) > 0 {
			m.handlers = append(m.handlers, h)
		}
		for _, f := range adds {
			f()
		}
		if len(h.endpoints) > 0 || subscribes {
			for _, f := range later {
				f()
			}
		}
	}
	for _, fd := range funcs {
		if _, ok := directiveArg(fd.Doc, directiveSubscribe); !ok {
			continue
		}
		fn, ok := p.TypesInfo.Defs[fd.Name].(*types.Func)
		if !ok {
			continue
		}
		sig := fn.Type().(*types.Signature)
		if why := subscriberShape(sig); why != "" {
			diag(fn.Pos(), "%s has a %s line but is not a subscriber: %s", fn.Name(), directiveSubscribe, why)
			continue
		}
		addTopic(fn.Pos(), fn.Name(), fd.Doc, sig.Params().At(1).Type(), publisherName(fn.Name(), sig.Params().At(1).Type()))
	}
	if len(m.handlers) == 0 && len(topics) == 0 {
		return nil, diags, errs
	}
	if p.Name == "main" {
		errs = append(errs, "its handlers are in package main, which a client package cannot import: move them into a package of their own")
		return nil, diags, errs
	}
	seen := map[string]string{}
	for _, t := range topics {
		m.topics = append(m.topics, t)
	}
	sort.Slice(m.topics, func(i, j int) bool { return m.topics[i].value < m.topics[j].value })
	for _, t := range m.topics {
		if other, ok := seen[t.name]; ok {
			errs = append(errs, fmt.Sprintf("topics %q and %q would both be published by Publish%s: rename one of their subscribers (%s)", other, t.value, t.name, strings.Join(t.subs, ", ")))
		}
		seen[t.name] = t.value
	}
	m.serviceExpr = strconv.Quote(p.Name)
	if c, ok := p.Types.Scope().Lookup("ServiceName").(*types.Const); ok && c.Val().Kind() == constant.String {
		m.serviceExpr = m.q.pkg(p.Types) + ".ServiceName"
	}
	return m, diags, errs
}

// endpointShape returns "" for func(context.Context, *Req, *Rsp) error,
// else why the signature is not one.
func endpointShape(sig *types.Signature) string {
	ps, rs := sig.Params(), sig.Results()
	switch {
	case sig.Variadic():
		return "it is variadic; an endpoint is func(ctx context.Context, req *Req, rsp *Rsp) error"
	case ps.Len() != 3:
		return fmt.Sprintf("it takes %d parameters; an endpoint takes three: (ctx context.Context, req *Req, rsp *Rsp)", ps.Len())
	case !isContext(ps.At(0).Type()):
		return fmt.Sprintf("its first parameter is %s, not context.Context", typeString(ps.At(0).Type()))
	case !isPointer(ps.At(1).Type()):
		return fmt.Sprintf("its request parameter is %s, not a pointer: take *%[1]s", typeString(ps.At(1).Type()))
	case !isPointer(ps.At(2).Type()):
		return fmt.Sprintf("its response parameter is %s, not a pointer: take *%[1]s", typeString(ps.At(2).Type()))
	case rs.Len() != 1 || !isError(rs.At(0).Type()):
		return fmt.Sprintf("it returns %s; an endpoint returns error only", resultsString(rs))
	}
	return ""
}

// Shapes of stream endpoints, for diagnostics.
const (
	serverStreamShape = "func(ctx context.Context, req *Req, stream server.ServerStream[Rsp]) error"
	bidiStreamShape   = "func(ctx context.Context, stream server.BidiStream[Req, Rsp]) error"
)

// streamOf returns the stream kind of t when it is server.ServerStream[Rsp]
// (server.StreamServer) or server.BidiStream[Req, Rsp] (server.StreamBidi),
// with its type arguments; "" otherwise.
func streamOf(t types.Type) (kind string, args []types.Type) {
	n, ok := t.(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != serverPkgPath {
		return "", nil
	}
	switch n.Obj().Name() {
	case "ServerStream":
		kind = server.StreamServer
	case "BidiStream":
		kind = server.StreamBidi
	default:
		return "", nil
	}
	for i := 0; i < n.TypeArgs().Len(); i++ {
		args = append(args, n.TypeArgs().At(i))
	}
	return kind, args
}

// serverPkgPath is the import path of package server, whose stream types
// mark stream endpoints.
var serverPkgPath = reflect.TypeFor[server.ServerStream[struct{}]]().PkgPath()

// streamShape recognises a stream endpoint, as the server does: a server
// stream func(ctx, *Req, server.ServerStream[Rsp]) error or a client or
// bidirectional stream func(ctx, server.BidiStream[Req, Rsp]) error. It
// returns the kind and the request and response message types; kind ""
// when no parameter is a server stream type, and why when one is but the
// signature is not a stream endpoint's.
func streamShape(sig *types.Signature) (kind string, req, rsp types.Type, why string) {
	ps, rs := sig.Params(), sig.Results()
	at := -1
	var args []types.Type
	for i := 0; i < ps.Len(); i++ {
		t := ps.At(i).Type()
		if p, ok := t.(*types.Pointer); ok {
			if k, _ := streamOf(p.Elem()); k != "" {
				return k, nil, nil, fmt.Sprintf("it takes a pointer to %s; take the stream by value", typeString(p.Elem()))
			}
		}
		if k, a := streamOf(t); k != "" && at < 0 {
			at, kind, args = i, k, a
		}
	}
	if at < 0 {
		return "", nil, nil, ""
	}
	shape, n := serverStreamShape, 3
	if kind == server.StreamBidi {
		shape, n = bidiStreamShape, 2
	}
	switch {
	case sig.Variadic():
		return kind, nil, nil, "it is variadic; a stream endpoint is " + shape
	case ps.Len() != n || at != n-1:
		why = fmt.Sprintf("it takes (%s); an endpoint taking %s is %s", paramsString(ps), typeString(ps.At(at).Type()), shape)
		if kind == server.StreamServer && ps.Len() == 2 && at == 1 && isContext(ps.At(0).Type()) {
			why += " (a stream without one request is " + bidiStreamShape + ")"
		}
		return kind, nil, nil, why
	case !isContext(ps.At(0).Type()):
		return kind, nil, nil, fmt.Sprintf("its first parameter is %s, not context.Context", typeString(ps.At(0).Type()))
	case kind == server.StreamServer && !isPointer(ps.At(1).Type()):
		return kind, nil, nil, fmt.Sprintf("its request parameter is %s, not a pointer: take *%[1]s", typeString(ps.At(1).Type()))
	case rs.Len() != 1 || !isError(rs.At(0).Type()):
		return kind, nil, nil, fmt.Sprintf("it returns %s; a stream endpoint returns error only", resultsString(rs))
	}
	if kind == server.StreamServer {
		return kind, pointee(ps.At(1).Type()), args[0], ""
	}
	return kind, args[0], args[1], ""
}

// subscriberShape returns "" for func(context.Context, *T) error, else why
// the signature is not one.
func subscriberShape(sig *types.Signature) string {
	ps, rs := sig.Params(), sig.Results()
	switch {
	case sig.Variadic():
		return "it is variadic; a subscriber is func(ctx context.Context, ev *T) error"
	case ps.Len() != 2:
		return fmt.Sprintf("it takes %d parameters; a subscriber takes two: (ctx context.Context, ev *T)", ps.Len())
	case !isContext(ps.At(0).Type()):
		return fmt.Sprintf("its first parameter is %s, not context.Context", typeString(ps.At(0).Type()))
	case !isPointer(ps.At(1).Type()):
		return fmt.Sprintf("its event parameter is %s, not a pointer: take *%[1]s", typeString(ps.At(1).Type()))
	case rs.Len() != 1 || !isError(rs.At(0).Type()):
		return fmt.Sprintf("it returns %s; a subscriber returns error only", resultsString(rs))
	}
	return ""
}

// almostEndpoint reports whether sig is func(context.Context, A, B) error
// with A or B not a pointer: an endpoint but for its pointers.
func almostEndpoint(sig *types.Signature) bool {
	ps, rs := sig.Params(), sig.Results()
	return !sig.Variadic() && ps.Len() == 3 && isContext(ps.At(0).Type()) && rs.Len() == 1 && isError(rs.At(0).Type())
}

// looksMeant reports whether a method that is not an endpoint was likely
// meant as one: it takes a context.Context or returns an error.
func looksMeant(sig *types.Signature) bool {
	for i := 0; i < sig.Params().Len(); i++ {
		if isContext(sig.Params().At(i).Type()) {
			return true
		}
	}
	for i := 0; i < sig.Results().Len(); i++ {
		if isError(sig.Results().At(i).Type()) {
			return true
		}
	}
	return false
}

func isPointer(t types.Type) bool {
	_, ok := t.Underlying().(*types.Pointer)
	_, named := t.(*types.Named)
	return ok && !named
}

func typeString(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string { return p.Name() })
}

func paramsString(ps *types.Tuple) string {
	parts := make([]string, ps.Len())
	for i := range parts {
		parts[i] = typeString(ps.At(i).Type())
	}
	return strings.Join(parts, ", ")
}

func resultsString(rs *types.Tuple) string {
	if rs.Len() == 0 {
		return "nothing"
	}
	var parts []string
	for i := 0; i < rs.Len(); i++ {
		parts = append(parts, typeString(rs.At(i).Type()))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// pointee returns the element type of pointer type t.
func pointee(t types.Type) types.Type { return t.Underlying().(*types.Pointer).Elem() }

// typeName returns the Go type e as written in the client; it fails when
// the client cannot name it.
func (m *model) typeName(e types.Type, what string) (string, error) {
	var bad string
	var check func(types.Type)
	check = func(t types.Type) {
		switch t := t.(type) {
		case *types.Named:
			if o := t.Obj(); o.Pkg() != nil && !o.Exported() {
				bad = o.Name()
			}
			for i := 0; i < t.TypeArgs().Len(); i++ {
				check(t.TypeArgs().At(i))
			}
		case *types.Pointer:
			check(t.Elem())
		case *types.Slice:
			check(t.Elem())
		case *types.Array:
			check(t.Elem())
		case *types.Map:
			check(t.Key())
			check(t.Elem())
		}
	}
	check(e)
	if bad != "" {
		return "", fmt.Errorf("its %s type %s is unexported, so a client in another package cannot name it: export it", what, bad)
	}
	return types.TypeString(e, m.q.qualify), nil
}

// topicOf resolves the argument of a subscribe directive.
func (m *model) topicOf(pkg *types.Package, arg string) (expr, value string, err error) {
	if arg == "" {
		return "", "", fmt.Errorf("%s needs a topic: a string constant of the package, a quoted string or the topic itself", directiveSubscribe)
	}
	if strings.HasPrefix(arg, `"`) || strings.HasPrefix(arg, "`") {
		v, err := strconv.Unquote(arg)
		if err != nil || v == "" {
			return "", "", fmt.Errorf("%s %s: not a valid non-empty Go string", directiveSubscribe, arg)
		}
		return strconv.Quote(v), v, nil
	}
	if token.IsIdentifier(arg) {
		obj := pkg.Scope().Lookup(arg)
		if obj == nil {
			return "", "", fmt.Errorf("%s %s: the package declares no %s; name a string constant, or quote the topic", directiveSubscribe, arg, arg)
		}
		c, ok := obj.(*types.Const)
		if !ok || c.Val().Kind() != constant.String {
			return "", "", fmt.Errorf("%s %s: %s is not a string constant", directiveSubscribe, arg, arg)
		}
		v := constant.StringVal(c.Val())
		if v == "" {
			return "", "", fmt.Errorf("%s %s: the topic is empty", directiveSubscribe, arg)
		}
		if c.Exported() {
			return m.q.pkg(pkg) + "." + c.Name(), v, nil
		}
		return strconv.Quote(v), v, nil
	}
	if strings.ContainsAny(arg, " \t") {
		return "", "", fmt.Errorf("%s %s: a topic has no spaces; quote it if it must", directiveSubscribe, arg)
	}
	return strconv.Quote(arg), arg, nil
}

// publisherName names the Publish method of a subscriber's topic: the
// subscriber's name without an On or Handle prefix, else the event type's
// name.
func publisherName(sub string, ev types.Type) string {
	for _, p := range []string{"On", "Handle"} {
		if rest, ok := strings.CutPrefix(sub, p); ok && rest != "" {
			if r, _ := utf8.DecodeRuneInString(rest); unicode.IsUpper(r) {
				return rest
			}
		}
	}
	if n, ok := ev.Underlying().(*types.Pointer).Elem().(*types.Named); ok {
		return n.Obj().Name()
	}
	return sub
}

func hasDirective(doc *ast.CommentGroup, name string) bool {
	_, ok := directiveArg(doc, name)
	return ok
}

// directiveArg returns the argument of the directive line name in doc.
func directiveArg(doc *ast.CommentGroup, name string) (string, bool) {
	if doc == nil {
		return "", false
	}
	for _, c := range doc.List {
		if rest, ok := strings.CutPrefix(c.Text, name); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// docText returns the text of a doc comment without its directives.
func docText(doc *ast.CommentGroup) string {
	if doc == nil {
		return ""
	}
	return strings.TrimSpace(doc.Text())
}

func dirOf(file string) string {
	i := strings.LastIndexAny(file, `/\`)
	if i < 0 {
		return "."
	}
	return file[:i]
}

// qualifier names the packages that the client refers to, choosing an
// import name that collides with none of the client's own identifiers.
type qualifier struct {
	self    string // the client's package name
	names   map[string]*types.Package
	byPath  map[string]string
	reserve map[string]bool
}

func newQualifier(handler *types.Package, self string) *qualifier {
	q := &qualifier{self: self, names: map[string]*types.Package{}, byPath: map[string]string{}, reserve: map[string]bool{}}
	for _, r := range []string{"context", "io", "client", "micro", "ctx", "req", "rsp", "opts", "ev", "x", "c", "p", "o", "s", "m", "err", "name", "options", "Option", "Caller", "EventPublisher", "Client", "Publisher", "New", "NewPublisher", "ServiceName", self} {
		q.reserve[r] = true
	}
	q.pkg(handler)
	return q
}

// pkg returns the import name of p.
func (q *qualifier) pkg(p *types.Package) string {
	if n, ok := q.byPath[p.Path()]; ok {
		return n
	}
	base := p.Name()
	n := base
	for i := 2; q.reserve[n] || q.names[n] != nil; i++ {
		n = base + "pkg"
		if i > 2 {
			n = fmt.Sprintf("%spkg%d", base, i-1)
		}
	}
	q.names[n] = p
	q.byPath[p.Path()] = n
	return n
}

func (q *qualifier) qualify(p *types.Package) string { return q.pkg(p) }

// imports returns the packages the client refers to, sorted by path, with
// the name to import each under ("" when it is the package's own name).
func (q *qualifier) imports() [][2]string {
	var out [][2]string
	for n, p := range q.names {
		alias := ""
		if n != p.Name() || n != path.Base(p.Path()) {
			alias = n
		}
		out = append(out, [2]string{alias, p.Path()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1] < out[j][1] })
	return out
}
