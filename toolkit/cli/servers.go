package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/toolkit/api"
	"github.com/seedmicro/micro/toolkit/sidecar"
	"github.com/seedmicro/micro/toolkit/web"
)

// listen listens on the --address of a server command and tells Env.Ready.
func (s *session) listen(c *cli.Context, tool string) (net.Listener, error) {
	addr := c.String("address")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w (is another program using the port? choose another with --address)", tool, addr, err)
	}
	fmt.Fprintf(s.env.Stderr, "micro %s listening on http://%s\n", tool, l.Addr())
	if s.env.Ready != nil {
		s.env.Ready(tool, l.Addr().String())
	}
	return l, nil
}

// open opens what a server command (api, web, sidecar) uses: the registry
// and a client, on the broker when the server publishes. A server command
// takes no argument.
func (s *session) open(c *cli.Context, tool string, publishes bool) (registry.Registry, *client.Client, error) {
	if c.NArg() > 0 {
		return nil, nil, usageErr("%s takes no argument, got %q", tool, c.Args().First())
	}
	reg, err := s.registry(c)
	if err != nil {
		return nil, nil, err
	}
	cl, err := s.client(c, publishes)
	if err != nil {
		return nil, nil, err
	}
	return reg, cl, nil
}

// serve serves h on --address until c's context ends, then shuts down
// (onShutdown runs first) and lets requests in flight finish within
// --grace.
func (s *session) serve(c *cli.Context, tool string, h http.Handler, onShutdown ...func()) error {
	l, err := s.listen(c, tool)
	if err != nil {
		return err
	}
	return api.Serve(c.Context, l, h, c.Duration("grace"), onShutdown...)
}

func (s *session) apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "serve the HTTP API gateway: HTTP requests with JSON bodies become RPC calls",
		Description: `Serves HTTP to RPC until interrupted, then shuts down gracefully.

   POST /SERVICE/METHOD             /greeter/hello calls Greeter.Hello of greeter
   POST /SERVICE/TYPE/METHOD        /greeter/say/hello calls Say.Hello
   POST /rpc                        {"service": "greeter", "endpoint": "Greeter.Hello", "request": {...}}
   GET  /health                     {"status":"ok"}

Headers Micro-Meta-KEY become request metadata, Micro-Timeout (e.g. 2s) the
deadline. Errors are JSON {"code", "status", "message"} with the HTTP status of
the code (not_found 404, invalid_argument 400, deadline_exceeded 504,
unavailable 503); a malformed body is a 400 with its byte "offset", an
oversized one a 413.

EXAMPLES
   micro api --address :8080
   curl -d '{"name": "Ada"}' http://localhost:8080/greeter/hello
   micro api --address :8080 --cors-origin https://app.example.com --max-body 65536`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "address", Value: ":8080", Usage: "listen on `HOST:PORT`"},
			&cli.StringSliceFlag{Name: "cors-origin", Usage: "allow cross-origin requests from `ORIGIN` (repeatable; * for any); CORS is off without it"},
			&cli.Int64Flag{Name: "max-body", Value: api.DefaultMaxBodySize, Usage: "the largest request body in `BYTES`; larger ones get 413"},
			&cli.DurationFlag{Name: "timeout", Value: api.DefaultTimeout, Usage: "deadline of a call without a Micro-Timeout header"},
			&cli.StringFlag{Name: "metadata-prefix", Value: api.DefaultMetadataPrefix, Usage: "headers with this `PREFIX` become request metadata"},
			&cli.DurationFlag{Name: "grace", Value: 10 * time.Second, Usage: "on shutdown, how long requests in flight may finish"},
		},
		Action: s.action(func(c *cli.Context) error {
			reg, cl, err := s.open(c, "api", false)
			if err != nil {
				return err
			}
			h := api.New(reg, cl,
				api.WithAllowedOrigins(c.StringSlice("cors-origin")...),
				api.WithMaxBodySize(c.Int64("max-body")),
				api.WithTimeout(c.Duration("timeout")),
				api.WithMetadataPrefix(c.String("metadata-prefix")),
				api.WithLogger(s.logger()))
			defer h.Close()
			return s.serve(c, "api", h, func() { h.Close() })
		}),
	}
}

func (s *session) webCommand() *cli.Command {
	return &cli.Command{
		Name:  "web",
		Usage: "serve the web dashboard: services, endpoints, a call form, live updates, plugins",
		Description: `Serves the dashboard until interrupted. It shows the services of the
registry and updates as they come and go, a service's nodes and endpoints
with their schemas, a form that calls an endpoint and shows the response and
its latency, and the installed plugins with their health. /NAME/... is
proxied to the web service registered as web.NAME (see --web-prefix).

EXAMPLES
   micro web --address :8082           # then open http://localhost:8082
   micro web --address 127.0.0.1:8082 --registry redis --registry-address redis://localhost:6379`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "address", Value: ":8082", Usage: "listen on `HOST:PORT`"},
			&cli.StringFlag{Name: "web-prefix", Value: web.DefaultWebPrefix, Usage: "registry `PREFIX` of the web services that /NAME/ reaches"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "on shutdown, how long requests in flight may finish"},
		},
		Action: s.action(func(c *cli.Context) error {
			reg, cl, err := s.open(c, "web", false)
			if err != nil {
				return err
			}
			opts := []web.Option{web.WithWebPrefix(c.String("web-prefix")), web.WithLogger(s.logger())}
			if cfg, _ := s.config(c); cfg.PluginDir != "" {
				opts = append(opts, web.WithPluginDir(cfg.PluginDir))
			} else if d := s.env.Getenv("MICRO_PLUGIN_DIR"); d != "" {
				opts = append(opts, web.WithPluginDir(d))
			}
			h := web.New(reg, cl, opts...)
			return s.serve(c, "web", h, func() { h.Close() })
		}),
	}
}

func (s *session) sidecarCommand() *cli.Command {
	return &cli.Command{
		Name:  "sidecar",
		Usage: "serve the sidecar: programs in any language register, call, publish and subscribe over HTTP",
		Description: `Serves the sidecar's HTTP API until interrupted, then deregisters its
programs and ends their subscriptions.

   POST   /register          {"name", "address", "endpoints", "health_check"}: calls of NAME's endpoints
                             reach the program as POST ADDRESS/Type.Method
   POST   /deregister        {"name"}
   POST   /call/SERVICE/...  call a service (the path rules of micro api), or POST /call {"service", "endpoint", "request"}
   POST   /publish/TOPIC     publish the JSON body
   POST   /subscribe         {"topic", "queue", "callback"}: events are POSTed to callback, retried until a 2xx
   GET    /subscribe/TOPIC   events as Server-Sent Events

A program whose health check fails is deregistered until it passes again.

EXAMPLES
   micro sidecar --address 127.0.0.1:8081
   curl -d '{"name": "orders", "address": "http://127.0.0.1:3000", "endpoints": ["Orders.Create"], "health_check": "http://127.0.0.1:3000/health"}' http://127.0.0.1:8081/register
   curl -d '{"name": "Ada"}' http://127.0.0.1:8081/call/greeter/hello
   curl -d '{"topic": "orders.created", "callback": "http://127.0.0.1:3000/events"}' http://127.0.0.1:8081/subscribe`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "address", Value: "127.0.0.1:8081", Usage: "serve the programs' HTTP API on `HOST:PORT`"},
			&cli.StringFlag{Name: "rpc-address", Value: "127.0.0.1:0", Usage: "take calls for the programs on `HOST:PORT` (registered as their nodes' address)"},
			&cli.StringFlag{Name: "advertise", Usage: "register `HOST:PORT` instead of the RPC address, when others reach the sidecar at another address"},
			&cli.DurationFlag{Name: "health-interval", Value: 5 * time.Second, Usage: "how often programs' health checks run"},
			&cli.IntFlag{Name: "max-attempts", Value: 5, Usage: "push attempts of an event before it is handed back to the broker"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "on shutdown, how long requests in flight may finish"},
		},
		Action: s.action(func(c *cli.Context) error {
			reg, cl, err := s.open(c, "sidecar", true)
			if err != nil {
				return err
			}
			b, err := s.broker(c)
			if err != nil {
				return err
			}
			sc := sidecar.New(reg, b, cl,
				sidecar.WithRPCAddress(c.String("rpc-address")),
				sidecar.WithAdvertise(c.String("advertise")),
				sidecar.WithHealthInterval(c.Duration("health-interval")),
				sidecar.WithMaxAttempts(c.Int("max-attempts")),
				sidecar.WithLogger(s.logger()))
			if err := sc.Start(c.Context); err != nil {
				return err
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), c.Duration("grace"))
				defer cancel()
				sc.Close(ctx)
			}()
			return s.serve(c, "sidecar", sc.Handler())
		}),
	}
}
