// Package api is micro's HTTP API gateway: it turns HTTP requests with JSON
// bodies into RPC calls and the answers back into HTTP responses. It is
// built on net/http alone.
//
// # Path rules
//
// POST /SERVICE/PATH calls service SERVICE; PATH names the endpoint:
//
//	/greeter/hello            Greeter.Hello   (one segment: the type is the service name)
//	/greeter/say/hello        Say.Hello       (two segments: type, then method)
//	/greeter/Greeter.Hello    Greeter.Hello   (a segment with a dot is the endpoint as it is)
//
// Each name is capitalised and dashes and underscores join words:
// /user-store/get-user calls UserStore.GetUser of service user-store. More
// than two segments are refused with 404.
//
// POST /rpc takes the service and endpoint in the body instead:
//
//	{"service": "greeter", "endpoint": "Greeter.Hello", "request": {"name": "Ada"}}
//
// GET /health answers {"status":"ok"} while the gateway serves.
//
// The body is checked once to be JSON, then handed to the service as the
// bytes received (as a codec.RawJSON); the reply is written as the bytes the
// service sent. Neither is decoded or re-encoded on the way.
//
// # Headers
//
// A request header Micro-Meta-KEY: VALUE travels to the service as the
// metadata key (lower-cased) with that value (the prefix is set with
// WithMetadataPrefix). Micro-Timeout: a Go duration such as 500ms or 2s
// bounds the call (default 10s, at most WithMaxTimeout).
//
// # Errors
//
// Every error is a JSON object with a stable shape:
//
//	{"code": "not_found", "status": 404, "message": "service \"nope\" not found ..."}
//
// plus "offset", the byte offset of a malformed JSON body. The code is that of
// core/errors, mapped onto the HTTP status by HTTPStatus: not_found 404,
// invalid_argument 400, deadline_exceeded 504, unavailable 503, and so on.
// A body larger than WithMaxBodySize (1 MiB by default) is refused with 413.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/codec"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
)

// Caller makes RPC calls; *client.Client is one. The gateway hands it the
// request body as a *codec.RawJSON, checked once to be valid JSON, and
// receives the reply into a *codec.RawJSON, whose bytes it writes as the
// service sent them. Call must fill the reply with bytes of its own (the
// JSON codec copies them into it) and keep neither it, the body nor the
// options after it returns: the gateway reuses them.
type Caller interface {
	Call(ctx context.Context, service, endpoint string, req, rsp any, opts ...client.CallOption) error
}

// Header names and defaults.
const (
	DefaultMetadataPrefix = "Micro-Meta-"
	TimeoutHeader         = "Micro-Timeout"
	DefaultMaxBodySize    = 1 << 20
	DefaultTimeout        = 10 * time.Second
	DefaultMaxTimeout     = 5 * time.Minute
)

// Option configures a Handler.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	origins    []string
	maxBody    int64
	prefix     string
	timeout    time.Duration
	maxTimeout time.Duration
	logger     *slog.Logger
}

// WithAllowedOrigins turns CORS on for the given origins ("*" allows any).
// CORS is off by default: no Access-Control headers are sent.
func WithAllowedOrigins(origins ...string) Option {
	return optionFunc(func(o *options) { o.origins = append(o.origins, origins...) })
}

// WithMaxBodySize sets the largest request body accepted (default 1 MiB);
// a larger one is answered with 413.
func WithMaxBodySize(n int64) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.maxBody = n
		}
	})
}

// WithMetadataPrefix sets the prefix of the headers that become metadata
// (default "Micro-Meta-").
func WithMetadataPrefix(p string) Option {
	return optionFunc(func(o *options) {
		if p != "" {
			o.prefix = http.CanonicalHeaderKey(p)
		}
	})
}

// WithTimeout sets the deadline of a call without a Micro-Timeout header
// (default 10s).
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	})
}

// WithMaxTimeout caps the deadline a request may ask for (default 5m).
func WithMaxTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.maxTimeout = d
		}
	})
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// Handler is the gateway, an http.Handler. Create it with New and Close it
// when done.
type Handler struct {
	opts   options
	caller Caller
	reg    registry.Registry
	bufs   sync.Pool // *bytes.Buffer, request bodies
	msgs   sync.Pool // *message
	// defaultOpts are the call options of a request without a deadline
	// header, made once.
	defaultOpts []client.CallOption
}

var _ http.Handler = (*Handler)(nil)

// New returns a gateway that looks services up in reg (to tell an unknown
// service or endpoint with a clear 404) and calls them through c.
func New(reg registry.Registry, c Caller, opts ...Option) *Handler {
	o := options{
		maxBody:    DefaultMaxBodySize,
		prefix:     DefaultMetadataPrefix,
		timeout:    DefaultTimeout,
		maxTimeout: DefaultMaxTimeout,
		logger:     slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	h := &Handler{opts: o, caller: c, reg: reg, defaultOpts: []client.CallOption{client.WithCallTimeout(o.timeout)}}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	h.msgs.New = func() any { return new(message) }
	return h
}

// Close releases the handler's resources; it closes neither the registry
// nor the caller.
func (h *Handler) Close() error { return nil }

// Error is the JSON body of every error response.
type Error struct {
	Code    string `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
	// Offset is the byte offset in the request body where malformed JSON
	// was found; absent otherwise.
	Offset *int64 `json:"offset,omitempty"`
}

// HTTPStatus maps an error code onto an HTTP status.
func HTTPStatus(c merrors.Code) int {
	switch c {
	case merrors.OK:
		return http.StatusOK
	case merrors.Canceled:
		return 499 // client closed request
	case merrors.InvalidArgument, merrors.OutOfRange:
		return http.StatusBadRequest
	case merrors.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case merrors.NotFound:
		return http.StatusNotFound
	case merrors.AlreadyExists, merrors.Aborted:
		return http.StatusConflict
	case merrors.PermissionDenied:
		return http.StatusForbidden
	case merrors.ResourceExhausted:
		return http.StatusTooManyRequests
	case merrors.FailedPrecondition:
		return http.StatusPreconditionFailed
	case merrors.Unimplemented:
		return http.StatusNotImplemented
	case merrors.Unavailable:
		return http.StatusServiceUnavailable
	case merrors.Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// CodeOfStatus is the inverse of HTTPStatus, for HTTP answers of programs
// that speak to micro through HTTP (the sidecar).
func CodeOfStatus(status int) merrors.Code {
	switch status {
	case 499:
		return merrors.Canceled
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return merrors.InvalidArgument
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return merrors.DeadlineExceeded
	case http.StatusNotFound:
		return merrors.NotFound
	case http.StatusConflict:
		return merrors.AlreadyExists
	case http.StatusForbidden:
		return merrors.PermissionDenied
	case http.StatusTooManyRequests:
		return merrors.ResourceExhausted
	case http.StatusPreconditionFailed:
		return merrors.FailedPrecondition
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return merrors.Unimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return merrors.Unavailable
	case http.StatusUnauthorized:
		return merrors.Unauthenticated
	}
	if status >= 200 && status < 300 {
		return merrors.OK
	}
	if status >= 400 && status < 500 {
		return merrors.InvalidArgument
	}
	return merrors.Internal
}

// WriteError writes err as a JSON error body with the status of its code.
func WriteError(w http.ResponseWriter, err error) {
	code := merrors.CodeOf(err)
	msg := err.Error()
	var e *merrors.Error
	if errors.As(err, &e) {
		msg = e.Message()
	}
	writeError(w, &Error{Code: code.String(), Status: HTTPStatus(code), Message: msg})
}

func writeError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	w.Write(append(b, '\n'))
}

func fail(w http.ResponseWriter, status int, code merrors.Code, format string, args ...any) {
	writeError(w, &Error{Code: code.String(), Status: status, Message: fmt.Sprintf(format, args...)})
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(h.opts.origins) > 0 && h.cors(w, r) {
		return
	}
	switch r.URL.Path {
	case "/health":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			fail(w, http.StatusMethodNotAllowed, merrors.InvalidArgument, "%s /health: use GET", r.Method)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
		return
	case "/", "":
		fail(w, http.StatusNotFound, merrors.NotFound, "no service in the path: POST /SERVICE/ENDPOINT (e.g. /greeter/hello for Greeter.Hello) or POST /rpc")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(w, http.StatusMethodNotAllowed, merrors.InvalidArgument, "%s %s: call endpoints with POST and a JSON body", r.Method, r.URL.Path)
		return
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	defer h.putBuf(buf)
	buf.Reset()
	if !h.readBody(w, r, buf) {
		return
	}
	body := buf.Bytes()

	var service, endpoint string
	if r.URL.Path == "/rpc" {
		var req struct {
			Service  string          `json:"service"`
			Endpoint string          `json:"endpoint"`
			Request  json.RawMessage `json:"request"`
		}
		if badJSON(w, body) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, merrors.InvalidArgument, "/rpc body: %v; want {\"service\": \"greeter\", \"endpoint\": \"Greeter.Hello\", \"request\": {...}}", err)
			return
		}
		if req.Service == "" || req.Endpoint == "" {
			fail(w, http.StatusBadRequest, merrors.InvalidArgument, "/rpc body: service and endpoint are required; want {\"service\": \"greeter\", \"endpoint\": \"Greeter.Hello\", \"request\": {...}}")
			return
		}
		service, endpoint, body = req.Service, req.Endpoint, req.Request
	} else {
		var err error
		if service, endpoint, err = ParsePath(r.URL.Path); err != nil {
			fail(w, http.StatusNotFound, merrors.NotFound, "%v", err)
			return
		}
		// The one check of the body: from here on it travels as the
		// bytes received.
		if badJSON(w, body) {
			return
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = emptyObject
	}
	ctx := r.Context()
	opts := h.defaultOpts
	if v := r.Header.Get(TimeoutHeader); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(w, http.StatusBadRequest, merrors.InvalidArgument, "header %s: %q is not a positive duration; send e.g. 500ms or 2s", TimeoutHeader, v)
			return
		}
		opts = []client.CallOption{client.WithCallTimeout(min(d, h.opts.maxTimeout))}
	}
	if md := h.metadata(r.Header); md != nil {
		ctx = metadata.NewContext(ctx, md)
	}
	// The body goes out and the reply comes back in pooled buffers; Call
	// keeps neither once it returns.
	m := h.msgs.Get().(*message)
	defer h.putMessage(m)
	m.req, m.rsp = body, m.rsp[:0]
	if err := h.caller.Call(ctx, service, endpoint, &m.req, &m.rsp, opts...); err != nil {
		WriteError(w, h.explain(r.Context(), service, endpoint, err))
		return
	}
	rsp := []byte(m.rsp)
	if len(rsp) == 0 {
		rsp = emptyObject
	}
	hd := w.Header()
	hd["Content-Type"] = jsonContentType
	if len(rsp) >= 2048 {
		// net/http sets the length of a smaller reply itself; a larger
		// one would otherwise be sent chunked.
		hd["Content-Length"] = []string{strconv.Itoa(len(rsp))}
	}
	w.Write(rsp)
}

// message holds the request and reply of a call through the gateway.
type message struct{ req, rsp codec.RawJSON }

// putMessage returns m to the pool, unless its reply grew large.
func (h *Handler) putMessage(m *message) {
	if cap(m.rsp) <= 64<<10 {
		m.req = nil
		h.msgs.Put(m)
	}
}

// jsonContentType is the Content-Type header of every JSON answer; its
// capacity is its length, so that an Add to it copies.
var jsonContentType = []string{"application/json"}[:1:1]

var emptyObject = []byte("{}")

// readBody reads the request body into buf, answering 413 when it is larger
// than the limit and 400 when it cannot be read; it reports whether the
// body was read.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) bool {
	var body io.Reader = r.Body
	if n := r.ContentLength; n >= 0 && n <= h.opts.maxBody {
		// net/http stops the body at its declared length.
		buf.Grow(int(n) + 1)
	} else {
		body = http.MaxBytesReader(w, r.Body, h.opts.maxBody)
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail(w, http.StatusRequestEntityTooLarge, merrors.ResourceExhausted, "request body is larger than the limit of %d bytes; send less or raise the gateway's body limit (--max-body)", h.opts.maxBody)
			return false
		}
		fail(w, http.StatusBadRequest, merrors.InvalidArgument, "read request body: %v", err)
		return false
	}
	// Read to its end and closed, the body need not be drained by net/http
	// after the handler.
	r.Body.Close()
	return true
}

// putBuf returns a buffer to the pool unless it grew large.
func (h *Handler) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		b.Reset()
		h.bufs.Put(b)
	}
}

// badJSON answers 400 with the offset when body is not empty and not valid
// JSON.
func badJSON(w http.ResponseWriter, body []byte) bool {
	if len(bytes.TrimSpace(body)) == 0 || validJSON(body) {
		return false
	}
	var v json.RawMessage
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := se.Offset
		writeError(w, &Error{Code: merrors.InvalidArgument.String(), Status: http.StatusBadRequest,
			Message: fmt.Sprintf("request body is not valid JSON: %v at byte offset %d", se, off), Offset: &off})
		return true
	}
	fail(w, http.StatusBadRequest, merrors.InvalidArgument, "request body is not valid JSON: %v", err)
	return true
}

// explain turns the failure of a call to an unknown service or endpoint
// into a NotFound error naming what was looked for. It looks in the
// registry only on that error path, so that names sent by clients are not
// remembered.
func (h *Handler) explain(ctx context.Context, service, endpoint string, err error) error {
	code := merrors.CodeOf(err)
	if code != merrors.NotFound && code != merrors.Unimplemented {
		return err
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	svcs, lerr := h.reg.Lookup(lctx, service)
	if errors.Is(lerr, registry.ErrNotFound) {
		return merrors.Errorf(merrors.NotFound, "service %q not found in the registry: is it running? (`micro services` lists those that are)", service)
	}
	if lerr != nil {
		return err
	}
	var known []string
	for _, s := range svcs {
		for _, e := range s.Endpoints {
			if e.Name == endpoint {
				return err // the handler's own answer
			}
			if e.Metadata["subscriber"] != "true" {
				known = append(known, e.Name)
			}
		}
	}
	if len(known) == 0 {
		return err
	}
	slices.Sort(known)
	known = slices.Compact(known)
	return merrors.Errorf(merrors.NotFound, "service %q has no endpoint %q; it has: %s", service, endpoint, strings.Join(known, ", "))
}

func (h *Handler) metadata(hd http.Header) metadata.MD {
	var md metadata.MD
	for k, vs := range hd {
		if len(k) > len(h.opts.prefix) && strings.EqualFold(k[:len(h.opts.prefix)], h.opts.prefix) && len(vs) > 0 {
			if md == nil {
				md = metadata.MD{}
			}
			md.Set(k[len(h.opts.prefix):], strings.Join(vs, ","))
		}
	}
	return md
}

// cors sets the CORS headers for an allowed origin and answers a
// preflight request; it reports whether the request was answered.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if origin == "" || !(slices.Contains(h.opts.origins, "*") || slices.Contains(h.opts.origins, origin)) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		w.Header().Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			w.Header().Set("Access-Control-Allow-Headers", rh)
		}
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// ParsePath turns a request path into a service and an endpoint by the
// path rules of the package documentation.
func ParsePath(path string) (service, endpoint string, err error) {
	p := strings.Trim(path, "/")
	var parts [3]string
	n := 0
	for rest := p; ; n++ {
		i := strings.IndexByte(rest, '/')
		if n == len(parts) {
			return "", "", fmt.Errorf("path %q has too many segments: use /SERVICE/METHOD or /SERVICE/TYPE/METHOD", path)
		}
		if i < 0 {
			parts[n] = rest
			n++
			break
		}
		parts[n], rest = rest[:i], rest[i+1:]
	}
	if p == "" || n < 2 {
		return "", "", fmt.Errorf("path %q names no endpoint: use /SERVICE/METHOD (e.g. /greeter/hello for Greeter.Hello) or /SERVICE/TYPE/METHOD", path)
	}
	for _, s := range parts[:n] {
		if s == "" {
			return "", "", fmt.Errorf("path %q has an empty segment", path)
		}
	}
	service = parts[0]
	typ, method := service, parts[1]
	if n == 2 {
		if strings.Contains(method, ".") {
			return service, method, nil
		}
	} else {
		typ, method = parts[1], parts[2]
	}
	var buf [64]byte
	b := appendCamel(buf[:0], typ)
	b = append(b, '.')
	b = appendCamel(b, method)
	return service, string(b), nil
}

// appendCamel appends s to b as a Go name: "say-hello" and "say_hello"
// become "SayHello", and of a dotted service name ("go.micro.greeter")
// only the last element is taken ("Greeter"). A name of dashes and
// underscores alone is appended as it is.
func appendCamel(b []byte, s string) []byte {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	n := len(b)
	up := true
	for _, r := range s {
		if r == '-' || r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b = utf8.AppendRune(b, r)
	}
	if len(b) == n {
		b = append(b, s...)
	}
	return b
}
