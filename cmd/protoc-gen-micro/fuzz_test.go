package main

import (
	"testing"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

// FuzzRequest feeds the plugin the bytes protoc would send on its standard
// input: whatever they hold, it fails with an error or generates, and never
// panics.
func FuzzRequest(f *testing.F) {
	for _, r := range []*pluginpb.CodeGeneratorRequest{
		request(method("A", false, false)),
		request(method("A", false, false), method("B", true, true)),
		request(method("Up", true, false), method("Down", false, true)),
		request(),
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req pluginpb.CodeGeneratorRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		gen, err := protogen.Options{}.New(&req)
		if err != nil {
			return
		}
		if err := generate(gen); err != nil {
			return
		}
		gen.Response()
	})
}
