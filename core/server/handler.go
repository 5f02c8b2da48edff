package server

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/seedmicro/micro/core/registry"
)

// Request is what handler middleware sees.
type Request struct {
	Service     string
	Endpoint    string
	ContentType string
	// Body is the decoded request: a pointer to the handler's request type.
	// For a bidirectional stream it is nil: the messages come through the
	// stream.
	Body any
	// Stream is the endpoint's stream kind (StreamServer, StreamBidi), ""
	// for a unary call. A stream handler's response value is nil.
	Stream string

	stream *streamConn
}

// Handler runs one request and returns the response value.
type Handler func(ctx context.Context, req *Request) (any, error)

// Middleware wraps a Handler.
type Middleware func(next Handler) Handler

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errorType = reflect.TypeFor[error]()
)

type method struct {
	name       string // Type.Method
	fn         reflect.Value
	reqType    reflect.Type // element type
	rspType    reflect.Type // element type
	stream     string       // "" (unary), StreamServer or StreamBidi
	streamType reflect.Type // ServerStream[Rsp] or BidiStream[Req, Rsp]
	endpoint   *registry.Endpoint
}

// HandleOption configures Handle.
type HandleOption interface{ applyHandle(*handleOptions) }

type handleOptionFunc func(*handleOptions)

func (f handleOptionFunc) applyHandle(o *handleOptions) { f(o) }

type handleOptions struct{ name string }

// Name sets the name used in endpoint names instead of the handler's type
// name.
func Name(name string) HandleOption {
	return handleOptionFunc(func(o *handleOptions) { o.name = name })
}

// shapes lists the handler method shapes, for error messages.
const shapes = "func(ctx context.Context, req *Req, rsp *Rsp) error, func(ctx context.Context, req *Req, stream server.ServerStream[Rsp]) error or func(ctx context.Context, stream server.BidiStream[Req, Rsp]) error"

// methodOf returns the handler method m of v if it has one of the shapes:
// unary func(ctx, *Req, *Rsp) error, server stream
// func(ctx, *Req, ServerStream[Rsp]) error, bidirectional stream
// func(ctx, BidiStream[Req, Rsp]) error.
func methodOf(v reflect.Value, m reflect.Method, name string) *method {
	mt := m.Type
	if mt.NumOut() != 1 || mt.Out(0) != errorType || mt.NumIn() < 3 || mt.In(1) != ctxType {
		return nil
	}
	hm := &method{name: name + "." + m.Name, fn: v.Method(m.Index)}
	switch {
	case mt.NumIn() == 4 && mt.In(2).Kind() == reflect.Pointer && mt.In(3).Kind() == reflect.Pointer:
		if kind, _, _ := streamKindOf(mt.In(3).Elem()); kind != "" {
			return nil // a pointer to a stream: reported by methodsOf
		}
		hm.reqType, hm.rspType = mt.In(2).Elem(), mt.In(3).Elem()
	case mt.NumIn() == 4 && mt.In(2).Kind() == reflect.Pointer:
		kind, _, rsp := streamKindOf(mt.In(3))
		if kind != StreamServer {
			return nil
		}
		hm.stream, hm.streamType = kind, mt.In(3)
		hm.reqType, hm.rspType = mt.In(2).Elem(), rsp
	case mt.NumIn() == 3:
		kind, req, rsp := streamKindOf(mt.In(2))
		if kind != StreamBidi {
			return nil
		}
		hm.stream, hm.streamType = kind, mt.In(2)
		hm.reqType, hm.rspType = req, rsp
	default:
		return nil
	}
	return hm
}

// methodsOf finds the handler methods of h (see methodOf).
func methodsOf(h any, name string) ([]*method, error) {
	v := reflect.ValueOf(h)
	if !v.IsValid() {
		return nil, fmt.Errorf("server: Handle(nil): pass a value whose methods look like %s", shapes)
	}
	t := v.Type()
	if name == "" {
		name = reflect.Indirect(v).Type().Name()
		if name == "" {
			return nil, fmt.Errorf("server: handler of type %s has no type name; give one with server.Name(...)", t)
		}
	}
	var ms []*method
	var skipped []string
	for i := 0; i < t.NumMethod(); i++ {
		for j := 1; j < t.Method(i).Type.NumIn(); j++ {
			if in := t.Method(i).Type.In(j); in.Kind() == reflect.Pointer {
				if kind, _, _ := streamKindOf(in.Elem()); kind != "" {
					return nil, fmt.Errorf("server: %s.%s takes a pointer to %s; take the stream by value: %s",
						name, t.Method(i).Name, in.Elem().Name(), shapes)
				}
			}
		}
		m := methodOf(v, t.Method(i), name)
		if m == nil {
			skipped = append(skipped, t.Method(i).Name)
			continue
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("server: %s has no handler methods (skipped: %s); a handler method looks like %s",
			t, strings.Join(skipped, ", "), shapes)
	}
	for _, m := range ms {
		m.endpoint = &registry.Endpoint{
			Name:     m.name,
			Request:  schemaOf(m.reqType.Name(), m.reqType, 0),
			Response: schemaOf(m.rspType.Name(), m.rspType, 0),
		}
		if m.stream != "" {
			m.endpoint.Metadata = map[string]string{MetaStream: m.stream}
		}
	}
	return ms, nil
}

func (m *method) call(ctx context.Context, req any) (any, error) {
	rsp := reflect.New(m.rspType)
	// Passing ctx as a Value of the interface type itself spares reflect
	// the per-call check that the concrete type implements the interface.
	out := m.fn.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), reflect.ValueOf(req), rsp})
	if err := out[0].Interface(); err != nil {
		return nil, err.(error)
	}
	return rsp.Interface(), nil
}

// schemaOf describes t for the registry: its name, its type and, for
// structs, their exported fields (named as in JSON), to a bounded depth.
func schemaOf(name string, t reflect.Type, depth int) *registry.Value {
	v := &registry.Value{Name: name, Type: t.String()}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth >= 4 {
		return v
	}
	v.Type = t.Name()
	if v.Type == "" {
		v.Type = t.String()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fname := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				fname = n
			}
		}
		ft := f.Type
		switch ft.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map, reflect.Pointer:
			fv := schemaOf(fname, ft.Elem(), depth+1)
			fv.Type = ft.String()
			v.Fields = append(v.Fields, fv)
		default:
			v.Fields = append(v.Fields, schemaOf(fname, ft, depth+1))
		}
	}
	return v
}
