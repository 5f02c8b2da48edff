package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/core/client"
	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/core/metadata"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/server"
)

// ServiceSummary is one line of `micro services --json`.
type ServiceSummary struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Nodes     int    `json:"nodes"`
	Endpoints int    `json:"endpoints"`
}

// NodeHealth is one line of `micro health --json`.
type NodeHealth struct {
	ID        string  `json:"id"`
	Address   string  `json:"address"`
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// WatchEvent is one line of `micro watch --json`.
type WatchEvent struct {
	Time    time.Time   `json:"time"`
	Type    string      `json:"type"`
	Service string      `json:"service"`
	Version string      `json:"version"`
	Nodes   []WatchNode `json:"nodes"`
}

// WatchNode is a node of a WatchEvent.
type WatchNode struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// action wraps a command's action: it closes the session afterwards.
func (s *session) action(f func(c *cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		defer s.close()
		return f(c)
	}
}

func (s *session) writeJSON(v any) error {
	enc := json.NewEncoder(s.env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// completeServices completes a service name from the registry, or a flag
// of the command when a dash was typed.
func (s *session) completeServices(c *cli.Context) {
	if n := len(s.args); n > 2 && strings.HasPrefix(s.args[n-2], "-") {
		prefix := strings.TrimLeft(s.args[n-2], "-")
		for _, f := range c.Command.Flags {
			for _, name := range f.Names() {
				if len(name) > 1 && strings.HasPrefix(name, prefix) {
					fmt.Fprintln(s.env.Stdout, "--"+name)
				}
			}
		}
		return
	}
	if c.NArg() > 0 {
		return
	}
	defer s.close()
	reg, err := s.registry(c)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.Context, 2*time.Second)
	defer cancel()
	svcs, _ := reg.List(ctx)
	var names []string
	for _, sv := range svcs {
		names = append(names, sv.Name)
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		fmt.Fprintln(s.env.Stdout, n)
	}
}

func (s *session) servicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "services",
		Usage: "list the services of the registry",
		Description: `Lists every service with its version, its number of nodes and of endpoints.

EXAMPLES
   micro services
   micro services --json | jq -r '.[].name'
   micro services --registry redis --registry-address redis://localhost:6379`,
		Action: s.action(func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErr("services takes no argument, got %q", c.Args().First())
			}
			reg, err := s.registry(c)
			if err != nil {
				return err
			}
			svcs, err := reg.List(c.Context)
			if err != nil {
				return fmt.Errorf("list services: %w", err)
			}
			sortServices(svcs)
			out := make([]ServiceSummary, 0, len(svcs))
			for _, sv := range svcs {
				out = append(out, ServiceSummary{Name: sv.Name, Version: sv.Version, Nodes: len(sv.Nodes), Endpoints: len(sv.Endpoints)})
			}
			if c.Bool("json") {
				return s.writeJSON(out)
			}
			if len(out) == 0 {
				fmt.Fprintln(s.env.Stdout, "no services registered")
				return nil
			}
			t := s.table("NAME", "VERSION", "NODES", "ENDPOINTS")
			for _, o := range out {
				t.row(o.Name, o.Version, strconv.Itoa(o.Nodes), strconv.Itoa(o.Endpoints))
			}
			return t.flush()
		}),
	}
}

func sortServices(svcs []*registry.Service) {
	slices.SortFunc(svcs, func(a, b *registry.Service) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
}

// lookup looks the service name up in the registry; a service that is not
// there is a not_found error that says where to look.
func (s *session) lookup(c *cli.Context, name string) ([]*registry.Service, error) {
	reg, err := s.registry(c)
	if err != nil {
		return nil, err
	}
	svcs, err := reg.Lookup(c.Context, name)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, &ExitError{Code: ExitCodeOf(merrors.NotFound), Err: merrors.Errorf(merrors.NotFound, "service %q not found in the registry (micro services lists those there are)", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return svcs, nil
}

func (s *session) describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a service's nodes, endpoints with their schemas, and metadata",
		ArgsUsage: "SERVICE",
		Description: `Shows every version of SERVICE: its metadata, its nodes and its endpoints with
the schema of each request and response.

EXAMPLES
   micro describe greeter
   micro describe greeter --json | jq '.[0].endpoints[].name'`,
		BashComplete: s.completeServices,
		Action: s.action(func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("describe takes one argument, the service name (see micro services)")
			}
			name := c.Args().First()
			svcs, err := s.lookup(c, name)
			if err != nil {
				return err
			}
			sortServices(svcs)
			if c.Bool("json") {
				return s.writeJSON(svcs)
			}
			w := s.env.Stdout
			for i, sv := range svcs {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "%s %s\n", s.bold("service"), clean(sv.Name))
				fmt.Fprintf(w, "%s %s\n", s.bold("version"), clean(sv.Version))
				for _, k := range sortedKeys(sv.Metadata) {
					fmt.Fprintf(w, "%s %s=%s\n", s.bold("metadata"), clean(k), clean(sv.Metadata[k]))
				}
				fmt.Fprintln(w)
				t := s.table("NODE", "ADDRESS", "METADATA")
				for _, n := range sv.Nodes {
					t.row(n.ID, n.Address, formatMap(n.Metadata))
				}
				t.flush()
				fmt.Fprintln(w)
				t = s.table("ENDPOINT", "REQUEST", "RESPONSE")
				for _, e := range sv.Endpoints {
					t.row(e.Name, FormatValue(e.Request), FormatValue(e.Response))
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return nil
		}),
	}
}

// FormatValue renders a schema on one line: HelloRequest{name string, times int}.
func FormatValue(v *registry.Value) string {
	if v == nil {
		return "-"
	}
	var b strings.Builder
	formatValue(&b, v, 0)
	return b.String()
}

func formatValue(b *strings.Builder, v *registry.Value, depth int) {
	if depth > 0 {
		b.WriteString(v.Name + " ")
	}
	b.WriteString(v.Type)
	if len(v.Fields) > 0 && depth < 4 {
		b.WriteString("{")
		for i, f := range v.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			formatValue(b, f, depth+1)
		}
		b.WriteString("}")
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func formatMap(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func (s *session) callCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "call an endpoint of a service with a JSON body",
		ArgsUsage: "SERVICE ENDPOINT [JSON]",
		Description: `Calls ENDPOINT (Type.Method) of SERVICE with the JSON body given as the third
argument, or read from standard input when there is none (or it is "-") and
standard input is not a terminal; an empty body is {}. The response is
printed as JSON. On an error the code and message go to standard error and
the exit status is 10 plus the code's number (not_found 15, invalid_argument
13, deadline_exceeded 14, unavailable 24).

EXAMPLES
   micro call greeter Greeter.Hello '{"name": "Ada"}'
   echo '{"name": "Ada"}' | micro call greeter Greeter.Hello
   micro call greeter Greeter.Hello '{"name": "Ada"}' --metadata tenant=acme --timeout 2s
   micro call greeter Greeter.Hello '{"name": "Ada"}' --address 127.0.0.1:40123`,
		BashComplete: s.completeServices,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "metadata", Aliases: []string{"m"}, Usage: "request metadata as `KEY=VALUE`; repeatable"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "how long to wait for the answer"},
			&cli.StringFlag{Name: "address", Usage: "call the node at `HOST:PORT` directly, without looking the service up"},
		},
		Action: s.action(func(c *cli.Context) error {
			if c.NArg() < 2 || c.NArg() > 3 {
				return usageErr("call takes SERVICE ENDPOINT [JSON], got %d arguments", c.NArg())
			}
			service, endpoint := c.Args().Get(0), c.Args().Get(1)
			if !strings.Contains(endpoint, ".") {
				return usageErr("endpoint %q is not of the form Type.Method, e.g. Greeter.Hello (micro describe %s lists them)", endpoint, service)
			}
			var body []byte
			switch arg := c.Args().Get(2); {
			case c.NArg() == 3 && arg != "-":
				body = []byte(arg)
			case c.NArg() == 3 || !s.env.StdinTerminal:
				b, err := io.ReadAll(s.env.Stdin)
				if err != nil {
					return fmt.Errorf("read the body from standard input: %w", err)
				}
				body = b
			}
			if len(bytes.TrimSpace(body)) == 0 {
				body = []byte("{}")
			}
			if err := checkJSON(body); err != nil {
				return usageErr("the request body %v", err)
			}
			ctx, err := withMetadata(c)
			if err != nil {
				return err
			}
			var opts []client.CallOption
			if a := c.String("address"); a != "" {
				opts = append(opts, client.WithAddress(a))
			}
			if d := c.Duration("timeout"); d > 0 {
				opts = append(opts, client.WithCallTimeout(d))
			}
			cl, err := s.client(c, false)
			if err != nil {
				return err
			}
			var rsp json.RawMessage
			if err := cl.Call(ctx, service, endpoint, json.RawMessage(body), &rsp, opts...); err != nil {
				return &ExitError{Code: ExitCodeOf(merrors.CodeOf(err)), Err: err}
			}
			if len(rsp) == 0 {
				rsp = json.RawMessage("{}")
			}
			var out bytes.Buffer
			if err := json.Indent(&out, rsp, "", "  "); err != nil {
				out.Reset()
				out.Write(rsp)
			}
			out.WriteByte('\n')
			_, err = s.env.Stdout.Write(out.Bytes())
			return err
		}),
	}
}

// checkJSON reports where body stops being JSON.
func checkJSON(body []byte) error {
	if json.Valid(body) {
		return nil
	}
	var v json.RawMessage
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("is not valid JSON: %v at byte offset %d", se, se.Offset)
	}
	return fmt.Errorf("is not valid JSON: %v", err)
}

func (s *session) publishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a JSON event on a topic",
		ArgsUsage: "TOPIC [JSON]",
		Description: `Publishes the JSON event given as the second argument, or read from standard
input when there is none (or it is "-"), on TOPIC through the broker.

EXAMPLES
   micro publish greeter.greeted '{"name": "Ada"}'
   micro publish user.created '{"id": 42}' --metadata source=ops
   micro publish orders '{"id": 1}' --broker rabbitmq --broker-address amqp://guest:guest@localhost:5672/`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "metadata", Aliases: []string{"m"}, Usage: "message headers as `KEY=VALUE`; repeatable"},
		},
		Action: s.action(func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr("publish takes TOPIC [JSON], got %d arguments", c.NArg())
			}
			topic := c.Args().First()
			var body []byte
			if arg := c.Args().Get(1); c.NArg() == 2 && arg != "-" {
				body = []byte(arg)
			} else if c.NArg() == 2 || !s.env.StdinTerminal {
				b, err := io.ReadAll(s.env.Stdin)
				if err != nil {
					return fmt.Errorf("read the event from standard input: %w", err)
				}
				body = b
			}
			if len(bytes.TrimSpace(body)) == 0 {
				return usageErr("publish needs an event: micro publish %s '{...}'", topic)
			}
			if err := checkJSON(body); err != nil {
				return usageErr("the event %v", err)
			}
			ctx, err := withMetadata(c)
			if err != nil {
				return err
			}
			cl, err := s.client(c, true)
			if err != nil {
				return err
			}
			if err := cl.Publish(ctx, topic, json.RawMessage(body)); err != nil {
				return &ExitError{Code: ExitCodeOf(merrors.CodeOf(err)), Err: err}
			}
			if c.Bool("json") {
				return s.writeJSON(map[string]any{"topic": topic, "published": true})
			}
			fmt.Fprintf(s.env.Stdout, "published to %s\n", topic)
			return nil
		}),
	}
}

// withMetadata returns c's context carrying the --metadata KEY=VALUE
// pairs of a call or an event.
func withMetadata(c *cli.Context) (context.Context, error) {
	md := metadata.MD{}
	for _, kv := range c.StringSlice("metadata") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErr("--metadata %q: want KEY=VALUE", kv)
		}
		md.Set(k, v)
	}
	if len(md) == 0 {
		return c.Context, nil
	}
	return metadata.NewContext(c.Context, md), nil
}

func (s *session) healthCommand() *cli.Command {
	return &cli.Command{
		Name:      "health",
		Usage:     "check every node of a service",
		ArgsUsage: "SERVICE",
		Description: `Calls Health.Check on every node of SERVICE and shows each node's status
("serving", "draining", or "error" with the reason) and latency. The exit
status is 1 when a node does not serve.

EXAMPLES
   micro health greeter
   micro health greeter --json --timeout 500ms`,
		BashComplete: s.completeServices,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "how long to wait for each node"},
		},
		Action: s.action(func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("health takes one argument, the service name")
			}
			name := c.Args().First()
			svcs, err := s.lookup(c, name)
			if err != nil {
				return err
			}
			cl, err := s.client(c, false)
			if err != nil {
				return err
			}
			var out []NodeHealth
			for _, sv := range svcs {
				for _, n := range sv.Nodes {
					var rsp server.HealthResponse
					start := time.Now()
					err := cl.Call(c.Context, name, "Health.Check", &server.HealthRequest{}, &rsp,
						client.WithAddress(n.Address), client.WithCallTimeout(c.Duration("timeout")), client.WithCallRetries(0))
					h := NodeHealth{ID: n.ID, Address: n.Address, Status: rsp.Status, LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
					if err != nil {
						h.Status, h.Error = "error", err.Error()
					}
					out = append(out, h)
				}
			}
			bad := 0
			for _, h := range out {
				if h.Status != "serving" {
					bad++
				}
			}
			if c.Bool("json") {
				if err := s.writeJSON(out); err != nil {
					return err
				}
			} else {
				t := s.table("NODE", "ADDRESS", "STATUS", "LATENCY", "ERROR")
				for _, h := range out {
					st := s.green(h.Status)
					if h.Status != "serving" {
						st = s.red(h.Status)
					}
					t.rowRaw(clean(h.ID), clean(h.Address), st, fmt.Sprintf("%.2fms", h.LatencyMS), clean(orDash(h.Error)))
				}
				t.flush()
			}
			if bad > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d nodes of %s do not serve", bad, len(out), name)}
			}
			return nil
		}),
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (s *session) watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "print registry events as they happen, until interrupted",
		ArgsUsage: "[SERVICE]",
		Description: `Prints a line for each service that is added, updated or removed, until
interrupted (Ctrl-C). With SERVICE, only that service's events.

EXAMPLES
   micro watch
   micro watch greeter --json`,
		Action: s.action(func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageErr("watch takes at most one argument, a service name")
			}
			reg, err := s.registry(c)
			if err != nil {
				return err
			}
			var opts []registry.WatchOption
			if c.NArg() == 1 {
				opts = append(opts, registry.WatchService(c.Args().First()))
			}
			w, err := reg.Watch(c.Context, opts...)
			if err != nil {
				return fmt.Errorf("watch the registry: %w", err)
			}
			defer w.Stop()
			stopped := make(chan struct{})
			defer close(stopped)
			go func() {
				select {
				case <-c.Context.Done():
					w.Stop()
				case <-stopped:
				}
			}()
			asJSON := c.Bool("json")
			if !asJSON {
				fmt.Fprintln(s.env.Stderr, "watching the registry; Ctrl-C stops")
			}
			enc := json.NewEncoder(s.env.Stdout)
			for {
				ev, err := w.Next()
				if errors.Is(err, registry.ErrWatcherStopped) || c.Context.Err() != nil {
					return nil
				}
				if err != nil {
					return fmt.Errorf("watch: %w", err)
				}
				we := WatchEvent{Time: time.Now().UTC(), Type: ev.Type.String(), Nodes: []WatchNode{}}
				if ev.Service != nil {
					we.Service, we.Version = ev.Service.Name, ev.Service.Version
					for _, n := range ev.Service.Nodes {
						we.Nodes = append(we.Nodes, WatchNode{ID: n.ID, Address: n.Address})
					}
				}
				if asJSON {
					if err := enc.Encode(we); err != nil {
						return err
					}
					continue
				}
				var nodes []string
				for _, n := range we.Nodes {
					nodes = append(nodes, n.ID+"@"+n.Address)
				}
				typ := we.Type
				switch ev.Type {
				case registry.Added:
					typ = s.green(typ)
				case registry.Removed:
					typ = s.red(typ)
				}
				fmt.Fprintf(s.env.Stdout, "%s %-7s %s %s %s\n", we.Time.Format("15:04:05.000"), typ, clean(we.Service), clean(we.Version), clean(strings.Join(nodes, " ")))
			}
		}),
	}
}

// table writes aligned columns, the header in bold on a colour terminal.
type table struct {
	s  *session
	tw *tabwriter.Writer
}

func (s *session) table(header ...string) *table {
	t := &table{s: s, tw: tabwriter.NewWriter(s.env.Stdout, 0, 4, 2, ' ', 0)}
	for i, h := range header {
		header[i] = s.bold(h)
	}
	t.rowRaw(header...)
	return t
}

// row writes a row of values that may come from the registry: control
// characters are replaced, so that a name cannot move the cursor or
// break the columns.
func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = clean(c)
	}
	t.rowRaw(cols...)
}

// rowRaw writes cells that are already clean (and may be coloured).
func (t *table) rowRaw(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }

func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
}

func (t *table) flush() error { return t.tw.Flush() }

func (s *session) color() bool {
	_, noColor := lookupEnv(s.env.Getenv, "NO_COLOR")
	return s.env.Terminal && !noColor
}

func lookupEnv(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}

func (s *session) paint(code, text string) string {
	if !s.color() {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s *session) bold(t string) string  { return s.paint("1", t) }
func (s *session) green(t string) string { return s.paint("32", t) }
func (s *session) red(t string) string   { return s.paint("31", t) }
