// Command protoc-gen-micro is a protoc plugin that writes micro code for
// the services of .proto files: for each service Svc, beside the messages
// that protoc-gen-go writes (file <name>_micro.pb.go, same Go package),
//
//   - SvcHandler, the interface a handler implements, one method per RPC
//     in micro's shapes: Method(ctx, *Req, *Rsp) error for a unary RPC,
//     Method(ctx, *Req, server.ServerStream[Rsp]) error for a server
//     stream (rpc Method(Req) returns (stream Rsp)), and Method(ctx,
//     server.BidiStream[Req, Rsp]) error for a client stream (rpc
//     Method(stream Req) returns (Rsp)) and a bidirectional one;
//   - UnimplementedSvcHandler, to embed in a handler so that an RPC added
//     later answers errors.Unimplemented instead of breaking the build;
//   - RegisterSvcHandler(svc, h), which serves h on a micro.Service (or a
//     server.Server) under the endpoints "Svc.Method";
//   - SvcClient, from NewSvcClient(c, opts...), with one typed method per
//     RPC, and the service and endpoint names as constants;
//   - for each stream RPC, the stream type SvcMethodStream that its client
//     method returns: a server stream's method, Method(ctx, *Req, opts...),
//     sends the request and half-closes, and its stream has Recv and Close;
//     a client or bidirectional stream's method, Method(ctx, opts...),
//     returns a stream with Send, CloseSend, Recv and Close. Recv returns
//     io.EOF after the last message of a clean end, the handler's error
//     otherwise;
//   - the guard const _ bool = micro.SupportPackageIsVersion1.
//
// These are the shapes micro-new gen writes for Go handlers too.
//
// Use it with protoc (protoc-gen-micro on $PATH):
//
//	protoc --go_out=paths=source_relative:. --micro_out=paths=source_relative:. greeter.proto
//
// or with buf generate; see the README.
package main

import (
	"flag"
	"fmt"
	"os"

	"google.golang.org/protobuf/compiler/protogen"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println("protoc-gen-micro", generatorVersion)
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "protoc-gen-micro is a protoc plugin: run it through protoc or buf, e.g.\n\tprotoc --go_out=. --micro_out=. greeter.proto\n(it reads a CodeGeneratorRequest on standard input)\n")
		os.Exit(2)
	}
	var flags flag.FlagSet
	protogen.Options{ParamFunc: flags.Set}.Run(generate)
}
