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
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
)

// Caller makes RPC calls; *client.Client is one.
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
	bufs   sync.Pool
	// defaultTimeout is the call option of a request without a deadline
	// header, made once.
	defaultTimeout client.CallOption
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
	h := &Handler{opts: o, caller: c, reg: reg, defaultTimeout: client.WithCallTimeout(o.timeout)}
	h.bufs.New = func() any { return new(bytes.Buffer) }
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
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			h.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.opts.maxBody)); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail(w, http.StatusRequestEntityTooLarge, merrors.ResourceExhausted, "request body is larger than the limit of %d bytes; send less or raise the gateway's body limit (--max-body)", h.opts.maxBody)
			return
		}
		fail(w, http.StatusBadRequest, merrors.InvalidArgument, "read request body: %v", err)
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
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	ctx := r.Context()
	timeout := h.defaultTimeout
	if v := r.Header.Get(TimeoutHeader); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(w, http.StatusBadRequest, merrors.InvalidArgument, "header %s: %q is not a positive duration; send e.g. 500ms or 2s", TimeoutHeader, v)
			return
		}
		timeout = client.WithCallTimeout(min(d, h.opts.maxTimeout))
	}
	if md := h.metadata(r.Header); md != nil {
		ctx = metadata.NewContext(ctx, md)
	}
	var rsp json.RawMessage
	// The body is not checked here: encoding a json.RawMessage validates
	// it, so a malformed body fails the call before anything is sent, and
	// only then is it scanned again for the offset of the error.
	if err := h.caller.Call(ctx, service, endpoint, json.RawMessage(body), &rsp, timeout); err != nil {
		if merrors.CodeOf(err) == merrors.InvalidArgument && badJSON(w, body) {
			return
		}
		WriteError(w, h.explain(r.Context(), service, endpoint, err))
		return
	}
	if len(rsp) == 0 {
		rsp = json.RawMessage("{}")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(rsp)))
	w.Write(rsp)
}

// badJSON answers 400 with the offset when body is not empty and not valid
// JSON.
func badJSON(w http.ResponseWriter, body []byte) bool {
	if len(bytes.TrimSpace(body)) == 0 || json.Valid(body) {
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
	parts := strings.Split(p, "/")
	if p == "" || len(parts) < 2 {
		return "", "", fmt.Errorf("path %q names no endpoint: use /SERVICE/METHOD (e.g. /greeter/hello for Greeter.Hello) or /SERVICE/TYPE/METHOD", path)
	}
	if len(parts) > 3 {
		return "", "", fmt.Errorf("path %q has too many segments: use /SERVICE/METHOD or /SERVICE/TYPE/METHOD", path)
	}
	for _, s := range parts {
		if s == "" {
			return "", "", fmt.Errorf("path %q has an empty segment", path)
		}
	}
	service = parts[0]
	if len(parts) == 2 {
		if strings.Contains(parts[1], ".") {
			return service, parts[1], nil
		}
		return service, camel(service) + "." + camel(parts[1]), nil
	}
	return service, camel(parts[1]) + "." + camel(parts[2]), nil
}

// camel turns "say-hello" and "say_hello" into "SayHello", and the last
// dotted element of a service name ("go.micro.greeter") into "Greeter".
func camel(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
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
		b.WriteRune(r)
	}
	if b.Len() == 0 || !utf8.ValidString(b.String()) {
		return s
	}
	return b.String()
}
