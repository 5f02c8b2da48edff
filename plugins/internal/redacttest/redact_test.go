package redacttest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/redact"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
	brokernats "github.com/seedmicro/micro/plugins/broker/nats"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
	brokerredis "github.com/seedmicro/micro/plugins/broker/redis"
	"github.com/seedmicro/micro/plugins/internal/plugintest"
	registrynats "github.com/seedmicro/micro/plugins/registry/nats"
	registryredis "github.com/seedmicro/micro/plugins/registry/redis"
	storenats "github.com/seedmicro/micro/plugins/store/nats"
	storeredis "github.com/seedmicro/micro/plugins/store/redis"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// The servers of the tests, as host:port.
var (
	redisAddr  = env("MICRO_TEST_REDIS_ADDR", "127.0.0.1:6379")
	natsAddr   = env("MICRO_TEST_NATS_ADDR", "127.0.0.1:4222")
	rabbitAddr = env("MICRO_TEST_AMQP_ADDR", "127.0.0.1:5672")
)

// unreachable is an address nothing listens on.
const unreachable = "127.0.0.1:1"

// component is one plugin, opened with a URL and settings that hold
// secrets. use does what makes the plugin talk to its server (and, after a
// connection was cut, find out and reconnect); close releases it.
type component struct {
	use   func(ctx context.Context) error
	close func()
}

type target struct {
	name string
	// url is the address of the server at addr with the user user and the
	// password pass, as written in the URL.
	url func(user, pass, addr string) string
	// open opens the plugin at url, logging to log.
	open func(ctx context.Context, url string, log *slog.Logger) (component, error)
	// user and pass are credentials the server accepts, for the cases that
	// need a working connection; secret is what must not show of them.
	creds func(t *testing.T) (user, pass, secret string)
}

func redisURL(user, pass, addr string) string {
	return fmt.Sprintf("redis://%s:%s@%s/0", user, pass, addr)
}

func natsURL(user, pass, addr string) string {
	return fmt.Sprintf("nats://%s:%s@%s", user, pass, addr)
}

func amqpURL(user, pass, addr string) string {
	return fmt.Sprintf("amqp://%s:%s@%s/", user, pass, addr)
}

// redisUser creates a Redis user whose password is the secret, removed when
// t ends.
func redisUser(t *testing.T) (string, string, string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	t.Cleanup(func() { c.Close() })
	user := "microtest-redact"
	if err := c.Do(t.Context(), "ACL", "SETUSER", user, "reset", "on", ">"+plugintest.Secret, "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("Redis at %s: ACL SETUSER: %v (start it: redis-server --daemonize yes --port 6379, or .ci/run)", redisAddr, err)
	}
	t.Cleanup(func() { c.Do(context.Background(), "ACL", "DELUSER", user) })
	return user, "My%25Secret", plugintest.Secret
}

// natsUser is a user and password; the test server has no authorization,
// so it takes any.
func natsUser(*testing.T) (string, string, string) {
	return "u", "My%25Secret", plugintest.Secret
}

// rabbitUser is RabbitMQ's guest account, the only one the test server is
// known to have: its password must not show after the user name.
func rabbitUser(*testing.T) (string, string, string) {
	return "guest", "guest", ":guest@"
}

func targets() []target {
	return []target{
		{"broker/redis", redisURL, openRedisBroker, redisUser},
		{"registry/redis", redisURL, openRedisRegistry, redisUser},
		{"store/redis", redisURL, openRedisStore, redisUser},
		{"broker/nats", natsURL, openNATSBroker, natsUser},
		{"registry/nats", natsURL, openNATSRegistry, natsUser},
		{"store/nats", natsURL, openNATSStore, natsUser},
		{"broker/rabbitmq", amqpURL, openRabbitBroker, rabbitUser},
	}
}

// brokerComponent subscribes to a topic of b and publishes to it on use.
func brokerComponent(ctx context.Context, b broker.Broker) (component, error) {
	sub, err := b.Subscribe(ctx, "redact", func(context.Context, *broker.Message) error { return nil })
	if err != nil {
		b.Close(context.Background())
		return component{}, err
	}
	return component{
		use: func(ctx context.Context) error {
			return b.Publish(ctx, "redact", &broker.Message{Body: []byte("x")})
		},
		close: func() {
			sub.Unsubscribe(context.Background())
			b.Close(context.Background())
		},
	}, nil
}

// registryComponent watches r and registers a service on use.
func registryComponent(ctx context.Context, r interface {
	registry.Registry
	Close() error
}) (component, error) {
	w, err := r.Watch(ctx)
	if err != nil {
		r.Close()
		return component{}, err
	}
	svc := &registry.Service{Name: "redact", Version: "1", Nodes: []*registry.Node{{ID: "redact-1", Address: "127.0.0.1:1"}}}
	return component{
		use:   func(ctx context.Context) error { return r.Register(ctx, svc, time.Minute) },
		close: func() { w.Stop(); r.Close() },
	}, nil
}

// storeComponent writes a record on use.
func storeComponent(s interface {
	store.Store
	Close() error
}) component {
	return component{
		use:   func(ctx context.Context) error { return s.Write(ctx, &store.Record{Key: "redact", Value: []byte("x")}) },
		close: func() { s.Close() },
	}
}

func openRedisBroker(ctx context.Context, url string, log *slog.Logger) (component, error) {
	var cfg brokerredis.Config
	cfg.URL, cfg.Prefix = url, "microtest:redact:"
	b, err := brokerredis.New(ctx, cfg, brokerredis.WithLogger(log))
	if err != nil {
		return component{}, err
	}
	return brokerComponent(ctx, b)
}

func openRedisRegistry(ctx context.Context, url string, log *slog.Logger) (component, error) {
	var cfg registryredis.Config
	cfg.URL, cfg.Prefix = url, "microtest:redact:registry:"
	r, err := registryredis.New(ctx, cfg, registryredis.WithLogger(log))
	if err != nil {
		return component{}, err
	}
	return registryComponent(ctx, r)
}

func openRedisStore(ctx context.Context, url string, _ *slog.Logger) (component, error) {
	var cfg storeredis.Config
	cfg.URL, cfg.Prefix = url, "microtest:redact:store:"
	s, err := storeredis.New(ctx, cfg)
	if err != nil {
		return component{}, err
	}
	return storeComponent(s), nil
}

func openNATSBroker(ctx context.Context, url string, log *slog.Logger) (component, error) {
	var cfg brokernats.Config
	cfg.URL, cfg.Mode, cfg.SubjectPrefix = url, brokernats.ModeCore, "microtest_redact"
	cfg.Token = plugintest.Secret
	cfg.ReconnectWait = brokernats.Duration(20 * time.Millisecond)
	b, err := brokernats.New(ctx, cfg, brokernats.WithLogger(log))
	if err != nil {
		return component{}, err
	}
	return brokerComponent(ctx, b)
}

func openNATSRegistry(ctx context.Context, url string, log *slog.Logger) (component, error) {
	var cfg registrynats.Config
	cfg.URL, cfg.Bucket, cfg.Storage = url, "microtest_redact_registry", "memory"
	cfg.ReconnectWait = registrynats.Duration(20 * time.Millisecond)
	r, err := registrynats.New(ctx, cfg, registrynats.WithLogger(log))
	if err != nil {
		return component{}, err
	}
	return registryComponent(ctx, r)
}

func openNATSStore(ctx context.Context, url string, log *slog.Logger) (component, error) {
	var cfg storenats.Config
	cfg.URL, cfg.Bucket, cfg.Storage = url, "microtest_redact_store", "memory"
	cfg.ReconnectWait = storenats.Duration(20 * time.Millisecond)
	s, err := storenats.New(ctx, cfg, storenats.WithLogger(log))
	if err != nil {
		return component{}, err
	}
	return storeComponent(s), nil
}

func openRabbitBroker(ctx context.Context, url string, log *slog.Logger) (component, error) {
	var cfg rabbitmq.Config
	cfg.URL, cfg.Exchange, cfg.ConnectionName = url, "microtest.redact", "micro-test-redact"
	cfg.ReconnectMin = rabbitmq.Duration(20 * time.Millisecond)
	cfg.ReconnectMax = rabbitmq.Duration(200 * time.Millisecond)
	b, err := rabbitmq.New(ctx, cfg, rabbitmq.WithLogger(log))
	if err != nil {
		return component{}, err
	}
	return brokerComponent(ctx, b)
}

// serverAddr is the test server of a plugin.
func serverAddr(name string) string {
	switch {
	case strings.HasSuffix(name, "redis"):
		return redisAddr
	case strings.HasSuffix(name, "nats"):
		return natsAddr
	}
	return rabbitAddr
}

// Issue 12 item 2: passwords in logs and errors. Every plugin is given a
// password (and, for NATS, a token setting) and made to fail in every way
// that prints an address: a URL that does not parse, a server that does not
// answer, credentials the server refuses, and connections cut under a
// working plugin, which it logs and reconnects. Neither an error nor a log
// line may show the password.
func TestNoPasswordsInLogsOrErrors(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			failures := []struct {
				name, url string
			}{
				// '%Se' is not an escape: url.Parse refuses the URL and
				// quotes it, or the bad escape, in its error.
				{"bad URL", tg.url("u", plugintest.Secret, serverAddr(tg.name))},
				{"unreachable server", tg.url("u", "My%25Secret", unreachable)},
			}
			if !strings.HasSuffix(tg.name, "nats") { // the NATS test server takes any user
				failures = append(failures, struct{ name, url string }{
					"refused credentials", tg.url("microtest-nobody", "My%25Secret", serverAddr(tg.name)),
				})
			}
			for _, f := range failures {
				t.Run(f.name, func(t *testing.T) {
					logs := new(plugintest.Logs)
					ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
					defer cancel()
					c, err := tg.open(ctx, f.url, logs.Logger())
					if err == nil {
						c.close()
						t.Fatalf("open %s succeeded, want an error", redact.URL(f.url))
					}
					plugintest.NoSecret(t, "the error", err.Error())
					plugintest.NoSecret(t, "the logs", logs.String())
				})
			}
			t.Run("connection lost", func(t *testing.T) {
				user, pass, secret := tg.creds(t)
				proxy := plugintest.NewProxy(t, serverAddr(tg.name))
				logs := new(plugintest.Logs)
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				c, err := tg.open(ctx, tg.url(user, pass, proxy.Addr()), logs.Logger())
				if err != nil {
					t.Fatalf("open through the proxy: %v", err)
				}
				defer c.close()
				if err := c.use(ctx); err != nil {
					t.Fatalf("use: %v", err)
				}
				var errs []string
				for range 2 {
					proxy.Cut()
					time.Sleep(300 * time.Millisecond)
					for {
						err := c.use(ctx)
						if err == nil {
							break
						}
						errs = append(errs, err.Error())
						if ctx.Err() != nil {
							t.Fatalf("still failing after the connection was cut: %v", err)
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
				time.Sleep(500 * time.Millisecond)
				if tg.name != "store/redis" && logs.String() == "" { // the Redis store logs nothing
					t.Errorf("nothing logged after the connections were cut twice: the reconnection path was not exercised")
				}
				out := logs.String() + strings.Join(errs, "\n")
				if strings.Contains(out, secret) {
					t.Errorf("the logs and errors after a lost connection show the secret %q:\n%s", secret, out)
				}
				plugintest.NoSecret(t, "the logs and errors after a lost connection", out)
			})
		})
	}
}
