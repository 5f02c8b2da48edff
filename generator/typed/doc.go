// Package typed generates typed clients for micro handlers: the engine of
// `micro-new gen`.
//
// It loads Go packages with golang.org/x/tools/go/packages and finds their
// handlers by the rules the server applies at run time (see
// server.Server.Handle): a handler is a named type with at least one
// exported method of the shape
//
//	func (h *T) Method(ctx context.Context, req *Req, rsp *Rsp) error
//
// whose endpoint is "T.Method". Beside each package that has handlers it
// writes a client package, <dir>/<name>client, holding
//
//   - ServiceName, the service the client calls by default: the package's
//     string constant ServiceName when it has one, else the package's name;
//   - one constant per endpoint (GreeterHelloEndpoint = "Greeter.Hello");
//   - a client per handler type, New (or New<T> when the package has
//     several), with one method per endpoint carrying the handler method's
//     doc comment: Hello(ctx, *HelloRequest, ...client.CallOption)
//     (*HelloResponse, error);
//   - a Publisher with one Publish<Event> method per subscribed topic;
//   - the guard const _ bool = micro.SupportPackageIsVersion1, which makes
//     the file fail to compile, with a message saying to run micro-new gen,
//     against a micro whose generated-code API has moved.
//
// Topics are not visible in a handler's type, so a subscriber declares its
// topic in its doc comment with a directive:
//
//	// OnGreeted counts greetings.
//	//micro:subscribe TopicGreeted
//	func (g *Greeter) OnGreeted(ctx context.Context, ev *Greeted) error
//
// The argument is the name of a string constant of the package (preferred:
// the service subscribes with the same constant), a quoted Go string, or
// the topic itself. Methods and package-level functions may carry it; they
// must have the subscriber shape func(ctx context.Context, ev *T) error.
//
// An exported method of a handler type that looks meant as an endpoint (it
// takes a context.Context or returns an error) but does not have the
// endpoint shape is reported with its position and the reason, and left
// out. A package that does not type-check gets nothing written. Types
// declared in generated files are ignored, and a type whose doc comment
// has the line //micro:ignore is not a handler.
//
// Render renders the same client from a Source, a description of the
// package (handler types, endpoints, request and response type names),
// without loading anything: micro-new service uses it to put the client of
// the handler it scaffolds into its plan.
package typed
