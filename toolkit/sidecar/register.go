package sidecar

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/transport"
	"github.com/seedmicro/micro/toolkit/api"
)

func invalid(format string, args ...any) error {
	return merrors.Errorf(merrors.InvalidArgument, format, args...)
}

func notFound(format string, args ...any) error {
	return merrors.Errorf(merrors.NotFound, format, args...)
}

// Registration is the body of POST /register.
type Registration struct {
	Name        string            `json:"name"`
	Version     string            `json:"version,omitempty"`
	Address     string            `json:"address"`
	Endpoints   []EndpointSpec    `json:"endpoints,omitempty"`
	HealthCheck string            `json:"health_check,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// EndpointSpec is an endpoint of a Registration: a JSON string (its name)
// or an object with a name and optional schemas.
type EndpointSpec struct {
	Name     string          `json:"name"`
	Request  *registry.Value `json:"request,omitempty"`
	Response *registry.Value `json:"response,omitempty"`
}

// UnmarshalJSON accepts "Greeter.Hello" as well as {"name": "Greeter.Hello", ...}.
func (e *EndpointSpec) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		e.Name = name
		return nil
	}
	type plain EndpointSpec
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("an endpoint is a name or {\"name\", \"request\", \"response\"}: %w", err)
	}
	*e = EndpointSpec(p)
	return nil
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	endpointRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$`)
)

// program is one registered program.
type program struct {
	reg      Registration
	base     *url.URL
	id       string
	rpcAddr  string
	known    map[string]bool
	cancel   context.CancelFunc
	stopOnce sync.Once

	mu      sync.Mutex
	healthy bool
}

func (p *program) stop() { p.stopOnce.Do(p.cancel) }

func (p *program) service() *registry.Service {
	svc := &registry.Service{
		Name:     p.reg.Name,
		Version:  p.reg.Version,
		Metadata: map[string]string{"sidecar": "true", "protocol": "micro", "transport": "tcp"},
		Nodes: []*registry.Node{{
			ID:       p.id,
			Address:  p.rpcAddr,
			Metadata: map[string]string{"http": p.reg.Address},
		}},
	}
	for k, v := range p.reg.Metadata {
		svc.Metadata[k] = v
	}
	for _, e := range p.reg.Endpoints {
		svc.Endpoints = append(svc.Endpoints, &registry.Endpoint{Name: e.Name, Request: e.Request, Response: e.Response})
	}
	return svc
}

func (s *Sidecar) handleRegister(w http.ResponseWriter, r *http.Request) {
	var reg Registration
	if !s.decode(w, r, &reg, `{"name": "orders", "address": "http://127.0.0.1:3000", "endpoints": ["Orders.Create"], "health_check": "http://127.0.0.1:3000/health"}`) {
		return
	}
	if !nameRE.MatchString(reg.Name) {
		api.WriteError(w, invalid("name %q: want letters, digits, dots, dashes and underscores, such as \"orders\"", reg.Name))
		return
	}
	base, err := url.Parse(reg.Address)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		api.WriteError(w, invalid("address %q: want the program's HTTP server, such as http://127.0.0.1:3000", reg.Address))
		return
	}
	if reg.HealthCheck != "" {
		if hu, err := url.Parse(reg.HealthCheck); err != nil || (hu.Scheme != "http" && hu.Scheme != "https") || hu.Host == "" {
			api.WriteError(w, invalid("health_check %q: want a URL such as http://127.0.0.1:3000/health", reg.HealthCheck))
			return
		}
	}
	known := map[string]bool{}
	for _, e := range reg.Endpoints {
		if !endpointRE.MatchString(e.Name) {
			api.WriteError(w, invalid("endpoint %q: want Type.Method, such as Orders.Create", e.Name))
			return
		}
		known[e.Name] = true
	}
	if reg.Version == "" {
		reg.Version = "latest"
	}
	if s.RPCAddress() == "" {
		api.WriteError(w, merrors.New(merrors.FailedPrecondition, "the sidecar is not started"))
		return
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	ctx, cancel := context.WithCancel(context.Background())
	p := &program{reg: reg, base: base, id: reg.Name + "-sidecar-" + hex.EncodeToString(rnd[:]), rpcAddr: s.RPCAddress(), known: known, cancel: cancel}

	// A first health check before registering: a program that is not up
	// yet is refused with the reason, rather than registered.
	if reg.HealthCheck != "" {
		if err := s.check(r.Context(), reg.HealthCheck); err != nil {
			cancel()
			api.WriteError(w, merrors.Errorf(merrors.FailedPrecondition, "health check %s failed: %v", reg.HealthCheck, err))
			return
		}
	}
	if err := s.reg.Register(r.Context(), p.service(), s.opts.ttl); err != nil {
		cancel()
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "register %s: %v", reg.Name, err))
		return
	}
	p.healthy = true
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		s.reg.Deregister(context.Background(), p.service())
		api.WriteError(w, merrors.New(merrors.Unavailable, "the sidecar is shutting down"))
		return
	}
	old := s.programs[reg.Name]
	s.programs[reg.Name] = p
	s.bg.Add(1)
	s.mu.Unlock()
	if old != nil {
		old.stop()
		s.reg.Deregister(r.Context(), old.service())
	}
	go s.keep(ctx, p)
	s.opts.logger.Info("program registered", "service", reg.Name, "address", reg.Address, "node", p.id)
	writeJSON(w, http.StatusOK, map[string]string{"name": reg.Name, "id": p.id})
}

// keep renews the registration of p and runs its health check, until p is
// stopped: a failing check deregisters it, a passing one registers it
// again.
func (s *Sidecar) keep(ctx context.Context, p *program) {
	defer s.bg.Done()
	t := time.NewTicker(s.opts.healthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		healthy := true
		var herr error
		if p.reg.HealthCheck != "" {
			herr = s.check(ctx, p.reg.HealthCheck)
			healthy = herr == nil
		}
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		was := p.healthy
		p.healthy = healthy
		p.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, s.opts.healthInterval)
		switch {
		case healthy:
			if err := s.reg.Register(rctx, p.service(), s.opts.ttl); err != nil {
				s.opts.logger.Warn("renew registration", "service", p.reg.Name, "error", err)
			} else if !was {
				s.opts.logger.Info("health check passes again: registered", "service", p.reg.Name)
			}
		case was:
			s.opts.logger.Warn("health check failed: deregistered", "service", p.reg.Name, "check", p.reg.HealthCheck, "error", herr)
			if err := s.reg.Deregister(rctx, p.service()); err != nil {
				s.opts.logger.Warn("deregister", "service", p.reg.Name, "error", err)
			}
		}
		cancel()
	}
}

func (s *Sidecar) check(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.opts.healthInterval, 5*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return s.send(req)
}

// send sends a request to a program (a health check, a delivery) and
// wants a 2xx status; the body of the response is read (up to 64 KiB, so
// that the connection is reused) and dropped.
func (s *Sidecar) send(req *http.Request) error {
	rsp, err := s.opts.httpClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(rsp.Body, 64<<10))
	rsp.Body.Close()
	if rsp.StatusCode < 200 || rsp.StatusCode > 299 {
		return fmt.Errorf("status %s", rsp.Status)
	}
	return nil
}

func (s *Sidecar) handleDeregister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if !s.decode(w, r, &req, `{"name": "orders"}`) {
		return
	}
	s.mu.Lock()
	p := s.programs[req.Name]
	delete(s.programs, req.Name)
	s.mu.Unlock()
	if p == nil {
		api.WriteError(w, notFound("no program registered as %q through this sidecar", req.Name))
		return
	}
	p.stop()
	if err := s.reg.Deregister(r.Context(), p.service()); err != nil {
		api.WriteError(w, merrors.Errorf(merrors.Unavailable, "deregister %s: %v", req.Name, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": req.Name})
}

// serveFrame carries a call to a program over HTTP.
func (s *Sidecar) serveFrame(ctx context.Context, f *transport.Frame) *transport.Frame {
	fail := func(err error) *transport.Frame {
		var e *merrors.Error
		code, msg := merrors.CodeOf(err), err.Error()
		if errors.As(err, &e) {
			msg = e.Message()
		}
		return &transport.Frame{Code: uint32(code), Message: msg}
	}
	s.mu.Lock()
	p := s.programs[f.Service]
	s.mu.Unlock()
	if p == nil {
		return fail(notFound("service %q is not registered through this sidecar", f.Service))
	}
	if len(p.known) > 0 && !p.known[f.Endpoint] {
		return fail(merrors.Errorf(merrors.Unimplemented, "service %s has no endpoint %q", f.Service, f.Endpoint))
	}
	u := *p.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + f.Endpoint
	body := f.Body
	if len(body) == 0 {
		body = []byte("{}")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fail(merrors.Wrap(merrors.Internal, err))
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(f.Meta); i += 2 {
		req.Header.Set(api.DefaultMetadataPrefix+f.Meta[i], f.Meta[i+1])
	}
	if f.Timeout > 0 {
		req.Header.Set(api.TimeoutHeader, f.Timeout.String())
	}
	rsp, err := s.opts.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fail(merrors.FromContext(ctx.Err()))
		}
		return fail(merrors.Errorf(merrors.Unavailable, "program %s at %s: %v", f.Service, p.reg.Address, err))
	}
	defer rsp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(rsp.Body, transport.DefaultMaxFrameSize-4096))
	if err != nil {
		return fail(merrors.Errorf(merrors.Unavailable, "program %s: read its answer: %v", f.Service, err))
	}
	if rsp.StatusCode < 200 || rsp.StatusCode > 299 {
		var e api.Error
		if json.Unmarshal(out, &e) == nil && e.Code != "" {
			if c, ok := merrors.ParseCode(e.Code); ok && c != merrors.OK {
				return &transport.Frame{Code: uint32(c), Message: e.Message}
			}
		}
		msg := strings.TrimSpace(string(out))
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		return &transport.Frame{Code: uint32(api.CodeOfStatus(rsp.StatusCode)), Message: "program " + f.Service + " answered " + strconv.Itoa(rsp.StatusCode) + ": " + msg}
	}
	rct := rsp.Header.Get("Content-Type")
	if i := strings.IndexByte(rct, ';'); i >= 0 {
		rct = strings.TrimSpace(rct[:i])
	}
	if rct == "" || rct == "text/plain" {
		rct = "application/json"
	}
	if len(out) == 0 {
		out = []byte("{}")
	}
	return &transport.Frame{ContentType: rct, Body: out}
}
