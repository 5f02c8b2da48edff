// Package web is micro's dashboard: a page that shows the services of the
// registry, a service's nodes and endpoints with their schemas, a form that
// calls an endpoint (pre-filled from its request schema) and shows the
// response and its latency, the installed plugins with their health, and
// that updates itself as services come and go (Server-Sent Events).
//
// The page is served from embed.FS: no build step, no asset from the
// internet. Everything that comes from the registry is inserted as text,
// never as markup, and the page's Content-Security-Policy allows scripts
// from the dashboard alone.
//
// Routes:
//
//	GET  /                          the dashboard
//	GET  /_micro/static/...         its script and style sheet
//	GET  /_micro/api/services       [{"name", "version", "nodes", "endpoints"}]
//	GET  /_micro/api/services/NAME  the versions of NAME as registered (registry.Service)
//	POST /_micro/api/call           {"service", "endpoint", "request"} → {"response", "latency_ms"} or an api.Error
//	GET  /_micro/api/events         Server-Sent Events: "registry" events {"type", "service", "version"}
//	GET  /_micro/api/plugins        [{"name", "version", "source", "path", "health", "error"}]
//	GET  /NAME/...                  reverse proxy to the web service registered as "web.NAME"
//
// A web service is an HTTP server that registers in the registry under the
// prefix (WithWebPrefix, default "web.") with its HTTP address as its
// node's address; /NAME/rest reaches it as /rest.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seedmicro/micro/core/client"
	merrors "github.com/seedmicro/micro/core/errors"
	pluginlock "github.com/seedmicro/micro/core/plugin/lock"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/toolkit/api"
)

//go:embed static
var static embed.FS

// DefaultWebPrefix is the registry prefix of web services.
const DefaultWebPrefix = "web."

// Option configures a Handler.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	prefix    string
	pluginDir string
	logger    *slog.Logger
	timeout   time.Duration
	maxBody   int64
}

// WithWebPrefix sets the registry prefix of the web services that /NAME/
// reaches (default "web.").
func WithWebPrefix(p string) Option {
	return optionFunc(func(o *options) {
		if p != "" {
			o.prefix = p
		}
	})
}

// WithPluginDir sets the plugin directory whose plugins are listed
// (default: pluginlock.DefaultDir).
func WithPluginDir(dir string) Option { return optionFunc(func(o *options) { o.pluginDir = dir }) }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithCallTimeout sets the deadline of a call made from the form (default 10s).
func WithCallTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	})
}

// Handler is the dashboard, an http.Handler.
type Handler struct {
	opts   options
	reg    registry.Registry
	caller api.Caller
	assets http.Handler
	index  []byte

	closeOnce sync.Once
	done      chan struct{} // closed by Close: streams end
}

var _ http.Handler = (*Handler)(nil)

// New returns the dashboard of reg, calling endpoints through c.
func New(reg registry.Registry, c api.Caller, opts ...Option) *Handler {
	o := options{prefix: DefaultWebPrefix, logger: slog.New(slog.DiscardHandler), timeout: 10 * time.Second, maxBody: 1 << 20}
	for _, opt := range opts {
		opt.apply(&o)
	}
	sub, _ := fs.Sub(static, "static")
	index, _ := fs.ReadFile(sub, "index.html")
	return &Handler{opts: o, reg: reg, caller: c, index: index, done: make(chan struct{}),
		assets: http.StripPrefix("/_micro/static/", http.FileServerFS(sub))}
}

// Close ends the event streams of open pages (they reconnect to another
// server, if any). Call it when the server shuts down; it closes neither
// the registry nor the caller.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() { close(h.done) })
	return nil
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/" || p == "/index.html":
		h.securityHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(h.index)
	case strings.HasPrefix(p, "/_micro/static/"):
		h.securityHeaders(w)
		h.assets.ServeHTTP(w, r)
	case p == "/_micro/api/services":
		h.services(w, r)
	case strings.HasPrefix(p, "/_micro/api/services/"):
		h.service(w, r, strings.TrimPrefix(p, "/_micro/api/services/"))
	case p == "/_micro/api/call":
		h.call(w, r)
	case p == "/_micro/api/events":
		h.events(w, r)
	case p == "/_micro/api/plugins":
		h.plugins(w, r)
	case strings.HasPrefix(p, "/_micro/"):
		notFound(w, "no such dashboard resource "+p)
	default:
		h.proxy(w, r)
	}
}

func (h *Handler) securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func notFound(w http.ResponseWriter, msg string) {
	api.WriteError(w, merrors.New(merrors.NotFound, msg))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	json.NewEncoder(w).Encode(v)
}

// ServiceSummary is one entry of /_micro/api/services.
type ServiceSummary struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Nodes     int    `json:"nodes"`
	Endpoints int    `json:"endpoints"`
}

func (h *Handler) services(w http.ResponseWriter, r *http.Request) {
	svcs, err := h.reg.List(r.Context())
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "list services: %v", err))
		return
	}
	out := make([]ServiceSummary, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, ServiceSummary{Name: s.Name, Version: s.Version, Nodes: len(s.Nodes), Endpoints: len(s.Endpoints)})
	}
	slices.SortFunc(out, func(a, b ServiceSummary) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	writeJSON(w, out)
}

func (h *Handler) service(w http.ResponseWriter, r *http.Request, name string) {
	name, err := url.PathUnescape(name)
	if err != nil || name == "" {
		api.WriteError(w, merrors.New(merrors.InvalidArgument, "bad service name in the path"))
		return
	}
	svcs, err := h.reg.Lookup(r.Context(), name)
	if errors.Is(err, registry.ErrNotFound) {
		notFound(w, fmt.Sprintf("service %q not found", name))
		return
	}
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "look up %q: %v", name, err))
		return
	}
	writeJSON(w, svcs)
}

// CallResult is the answer of /_micro/api/call.
type CallResult struct {
	Response  json.RawMessage `json:"response"`
	LatencyMS float64         `json:"latency_ms"`
}

func (h *Handler) call(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		api.WriteError(w, merrors.New(merrors.InvalidArgument, "use POST"))
		return
	}
	// A form post from another site must not call services: the page sends
	// JSON with a custom header, which a cross-site form cannot.
	if r.Header.Get("X-Micro-Dashboard") != "1" {
		api.WriteError(w, merrors.New(merrors.PermissionDenied, "calls are accepted from the dashboard only (header X-Micro-Dashboard: 1)"))
		return
	}
	var req struct {
		Service  string          `json:"service"`
		Endpoint string          `json:"endpoint"`
		Request  json.RawMessage `json:"request"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.opts.maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		api.WriteError(w, merrors.Errorf(merrors.InvalidArgument, "call body: %v", err))
		return
	}
	if req.Service == "" || req.Endpoint == "" {
		api.WriteError(w, merrors.New(merrors.InvalidArgument, "service and endpoint are required"))
		return
	}
	if len(req.Request) == 0 || string(req.Request) == "null" {
		req.Request = json.RawMessage("{}")
	}
	var rsp json.RawMessage
	start := time.Now()
	err := h.caller.Call(r.Context(), req.Service, req.Endpoint, req.Request, &rsp, client.WithCallTimeout(h.opts.timeout))
	lat := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		w.Header().Set("X-Latency-Ms", fmt.Sprintf("%.3f", lat))
		api.WriteError(w, err)
		return
	}
	if len(rsp) == 0 {
		rsp = json.RawMessage("{}")
	}
	writeJSON(w, CallResult{Response: rsp, LatencyMS: lat})
}

// Event is the data of a "registry" Server-Sent Event.
type Event struct {
	Type    string `json:"type"`
	Service string `json:"service"`
	Version string `json:"version"`
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		api.WriteError(w, merrors.New(merrors.Internal, "streaming is not supported by this server"))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-h.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	watch, err := h.reg.Watch(ctx)
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "watch the registry: %v", err))
		return
	}
	defer watch.Stop()
	go func() {
		<-ctx.Done()
		watch.Stop()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 1000\n: watching the registry\n\n")
	fl.Flush()
	evc := make(chan *registry.Event)
	go func() {
		defer close(evc)
		for {
			ev, err := watch.Next()
			if err != nil {
				return
			}
			select {
			case evc <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			for range evc {
			}
			return
		case <-ping.C:
			io.WriteString(w, ": ping\n\n")
			fl.Flush()
		case ev, ok := <-evc:
			if !ok {
				return
			}
			e := Event{Type: ev.Type.String()}
			if ev.Service != nil {
				e.Service, e.Version = ev.Service.Name, ev.Service.Version
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "event: registry\ndata: %s\n\n", b)
			fl.Flush()
		}
	}
}

// PluginHealth is one entry of /_micro/api/plugins.
type PluginHealth struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source"`
	Path    string `json:"path"`
	// Health is "ok" (the binary is there and its sha256 is the one the
	// lock pins), "missing", "modified" (another sha256) or "unpinned" (no
	// sha256 for this platform).
	Health string `json:"health"`
	Error  string `json:"error,omitempty"`
}

func (h *Handler) plugins(w http.ResponseWriter, r *http.Request) {
	dir := h.opts.pluginDir
	if dir == "" {
		d, err := pluginlock.DefaultDir()
		if err != nil {
			api.WriteError(w, merrors.Errorf(merrors.FailedPrecondition, "plugin directory: %v", err))
			return
		}
		dir = d
	}
	lock, err := pluginlock.ReadDir(dir)
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.DataLoss, "read the lock file of %s: %v", dir, err))
		return
	}
	out := []PluginHealth{}
	for _, p := range lock.Plugins {
		ph := PluginHealth{Name: p.Name, Version: p.Version, Source: p.Source, Path: filepath.Join(dir, pluginlock.BinaryName(p.Name)), Health: "ok"}
		sum, err := lock.Checksum(p.Name)
		switch {
		case err != nil:
			ph.Health, ph.Error = "unpinned", err.Error()
		default:
			f, oerr := os.Open(ph.Path)
			if oerr != nil {
				ph.Health, ph.Error = "missing", fmt.Sprintf("%v; reinstall it with `micro-new install %s`", oerr, p.Name)
				break
			}
			if verr := pluginlock.Verify(p.Name, f, sum); verr != nil {
				ph.Health, ph.Error = "modified", verr.Error()
			}
			f.Close()
		}
		out = append(out, ph)
	}
	writeJSON(w, out)
}

// proxy forwards /NAME/rest to a node of the web service prefix+NAME.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/")
	name, tail, _ := strings.Cut(rest, "/")
	svcName := h.opts.prefix + name
	svcs, err := h.reg.Lookup(r.Context(), svcName)
	if errors.Is(err, registry.ErrNotFound) || err == nil && len(svcs) == 0 {
		notFound(w, fmt.Sprintf("no web service %q is registered for /%s/ (register an HTTP server as %q)", svcName, name, svcName))
		return
	}
	if err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "look up %q: %v", svcName, err))
		return
	}
	var nodes []*registry.Node
	for _, s := range svcs {
		nodes = append(nodes, s.Nodes...)
	}
	if len(nodes) == 0 {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "web service %q has no node", svcName))
		return
	}
	node := nodes[rand.IntN(len(nodes))]
	addr := node.Address
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	target, err := url.Parse(addr)
	if err != nil || target.Host == "" {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "web service %q: node %q has no usable address %q", svcName, node.ID, node.Address))
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = singleJoin(target.Path, "/"+tail)
			pr.Out.URL.RawPath = ""
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", "/"+name)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			api.WriteError(w, merrors.Errorf(merrors.Unavailable, "web service %q at %s: %v", svcName, node.Address, err))
		},
	}
	rp.ServeHTTP(w, r)
}

func singleJoin(a, b string) string {
	return strings.TrimSuffix(a, "/") + b
}
