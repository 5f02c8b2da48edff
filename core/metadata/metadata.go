// Package metadata carries request metadata (string key-value pairs) in a
// context.Context. Keys are case-insensitive: they are stored in lower case.
// Metadata set on an outgoing context travels with an RPC and is available
// to the handler through FromContext.
package metadata

import (
	"context"
	"maps"
	"strings"
)

// MD is request metadata. Keys are lower case.
type MD map[string]string

// New returns metadata built from pairs of key and value. It panics on an odd
// number of arguments, as that is a programming error.
func New(kv ...string) MD {
	if len(kv)%2 != 0 {
		panic("metadata: New needs an even number of arguments (key, value pairs)")
	}
	md := make(MD, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		md[strings.ToLower(kv[i])] = kv[i+1]
	}
	return md
}

// Get returns the value for key, case-insensitively.
func (md MD) Get(key string) (string, bool) {
	v, ok := md[strings.ToLower(key)]
	return v, ok
}

// Set sets key to value.
func (md MD) Set(key, value string) { md[strings.ToLower(key)] = value }

// Clone returns a copy of md.
func (md MD) Clone() MD { return maps.Clone(md) }

type key struct{}

// NewContext returns a context that carries md. The map is copied, so later
// changes to md do not affect the context.
func NewContext(ctx context.Context, md MD) context.Context {
	return context.WithValue(ctx, key{}, md.Clone())
}

// FromContext returns the metadata in ctx. The returned map must not be
// modified; Clone it first.
func FromContext(ctx context.Context) (MD, bool) {
	md, ok := ctx.Value(key{}).(MD)
	return md, ok
}

// Get returns one value from the metadata in ctx.
func Get(ctx context.Context, key string) (string, bool) {
	md, _ := FromContext(ctx)
	return md.Get(key)
}

// AppendToContext returns a context whose metadata is ctx's plus the given
// pairs; later pairs win.
func AppendToContext(ctx context.Context, kv ...string) context.Context {
	md, _ := FromContext(ctx)
	out := make(MD, len(md)+len(kv)/2)
	maps.Copy(out, md)
	maps.Copy(out, New(kv...))
	return context.WithValue(ctx, key{}, out)
}
