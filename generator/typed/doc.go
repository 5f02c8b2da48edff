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
// whose endpoint is "T.Method", or of a stream endpoint's shape:
//
//	func (h *T) Watch(ctx context.Context, req *Req, stream server.ServerStream[Rsp]) error
//	func (h *T) Chat(ctx context.Context, stream server.BidiStream[Req, Rsp]) error
//
// the first a server stream, the second a client or bidirectional stream.
// Beside each package that has handlers it writes a client package,
// <dir>/<name>client, holding
//
//   - ServiceName, the service the client calls by default: the package's
//     string constant ServiceName when it has one, else the package's name;
//   - one constant per endpoint (GreeterHelloEndpoint = "Greeter.Hello");
//   - a client per handler type, New (or New<T> when the package has
//     several), with one method per endpoint carrying the handler method's
//     doc comment: Hello(ctx, *HelloRequest, ...client.CallOption)
//     (*HelloResponse, error);
//   - for a server stream, Watch(ctx, *Req, ...client.CallOption)
//     (*TWatchStream, error), which sends the request and half-closes; the
//     stream has Recv() (*Rsp, error), io.EOF after the last message of a
//     clean end and the handler's error otherwise, and Close();
//   - for a client or bidirectional stream, Chat(ctx, ...client.CallOption)
//     (*TChatStream, error); the stream has Send(*Req) error, Recv() (*Rsp,
//     error), CloseSend() error and Close() error, and is used as
//     client.Stream is;
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
// The client's Caller interface, through which it calls (a *client.Client
// or a test double), has Call, and Stream when the package has stream
// endpoints.
//
// An exported method of a handler type that looks meant as an endpoint (it
// takes a context.Context, a server stream type or returns an error) but
// does not have an endpoint's shape is reported with its position and the
// reason, and left out. A package that does not type-check gets nothing written. Types
// declared in generated files are ignored, and a type whose doc comment
// has the line //micro:ignore is not a handler.
//
// Render renders the same client from a Source, a description of the
// package (handler types, endpoints, request and response type names),
// without loading anything: micro-new service uses it to put the client of
// the handler it scaffolds into its plan.
package typed
