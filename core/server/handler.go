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
	Body any
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
	name     string // Type.Method
	fn       reflect.Value
	reqType  reflect.Type // element type
	rspType  reflect.Type // element type
	endpoint *registry.Endpoint
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

// methodsOf finds the methods of h with the shape
// func(ctx context.Context, req *Req, rsp *Rsp) error.
func methodsOf(h any, name string) ([]*method, error) {
	v := reflect.ValueOf(h)
	if !v.IsValid() {
		return nil, fmt.Errorf("server: Handle(nil): pass a value whose methods look like func(ctx context.Context, req *Req, rsp *Rsp) error")
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
		m := t.Method(i)
		mt := m.Type
		if mt.NumIn() != 4 || mt.NumOut() != 1 || mt.In(1) != ctxType || mt.Out(0) != errorType ||
			mt.In(2).Kind() != reflect.Pointer || mt.In(3).Kind() != reflect.Pointer {
			skipped = append(skipped, m.Name)
			continue
		}
		ms = append(ms, &method{
			name:    name + "." + m.Name,
			fn:      v.Method(i),
			reqType: mt.In(2).Elem(),
			rspType: mt.In(3).Elem(),
		})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("server: %s has no handler methods (skipped: %s); a handler method looks like func(ctx context.Context, req *Req, rsp *Rsp) error",
			t, strings.Join(skipped, ", "))
	}
	for _, m := range ms {
		m.endpoint = &registry.Endpoint{
			Name:     m.name,
			Request:  schemaOf(m.reqType.Name(), m.reqType, 0),
			Response: schemaOf(m.rspType.Name(), m.rspType, 0),
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
