package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro"
	"github.com/seedmicro/micro/internal/testkit"
	"github.com/seedmicro/micro/internal/testkit/inproc"
	"github.com/seedmicro/micro/resolve"
)

// instance is one running process of the scaffolded service.
type instance struct{ *testkit.Process }

func startInstance(t *testing.T, bin, dir string, env []string) *instance {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = dir // where its micro.json is
	cmd.Env = env
	in := &instance{testkit.Start(t, cmd)}
	t.Cleanup(func() { in.stop(t) })
	return in
}

func (in *instance) stop(t *testing.T) {
	in.Stop(t, syscall.SIGTERM, 15*time.Second)
}

// received counts the instance's "event received" log lines for name.
func (in *instance) received(name string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(in.Out.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), `msg="event received"`) && strings.Contains(sc.Text(), "name="+name+" ") {
			n++
		}
	}
	return n
}

func goIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// No -mod=mod: the project's go.mod and go.sum are complete as
	// micro-new leaves them.
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	testkit.Output(t, cmd)
}

func microNew(t *testing.T, bin, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	return testkit.Output(t, cmd)
}

// TestScaffoldedServiceOnRabbitMQThenNATS is what a new user does: scaffold
// a service with micro-new, build it, run two instances on Redis and
// RabbitMQ, call it and publish to it; switch the broker to NATS with
// micro-new use, rebuild, and do the same again.
func TestScaffoldedServiceOnRabbitMQThenNATS(t *testing.T) {
	amqpURL, redisURL, natsURL := testkit.AMQP.URL(t), testkit.Redis.URL(t), testkit.NATS.URL(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	mn := testkit.Binary(t, "../cmd/micro-new")
	work := filepath.Join(tmp, "work")
	os.MkdirAll(work, 0o755)
	env := append(os.Environ(), "MICRO_NEW_CORE="+root)

	out := microNew(t, mn, work, env, "service", "greeter", "--broker", "rabbitmq", "--registry", "redis", "--no-input")
	if !strings.Contains(out, "create    micro_gen.go") {
		t.Fatalf("micro-new service output lacks the plan:\n%s", out)
	}
	project := filepath.Join(work, "greeter")

	// The typed client of the handler is part of the scaffold; micro-new gen
	// finds nothing to change in it, and the project's test calls through it.
	clientPath := filepath.Join(project, "handler", "handlerclient", "handlerclient.micro.go")
	clientFile, err := os.ReadFile(clientPath)
	if err != nil {
		t.Fatalf("micro-new service wrote no typed client: %v\n%s", err, out)
	}
	microNew(t, mn, project, env, "gen", "./...")
	if got, _ := os.ReadFile(clientPath); string(got) != string(clientFile) {
		t.Fatalf("micro-new gen rewrote the scaffold's typed client:\n--- scaffold\n%s\n--- gen\n%s", clientFile, got)
	}
	goIn(t, project, "test", "-count=1", ".")

	// The user edits the handler: use must leave it alone.
	handlerPath := filepath.Join(project, "handler", "handler.go")
	edited, err := os.ReadFile(handlerPath)
	if err != nil {
		t.Fatal(err)
	}
	edited = append(edited, "\n// Notes of the user's, to be kept.\n"...)
	if err := os.WriteFile(handlerPath, edited, 0o644); err != nil {
		t.Fatal(err)
	}

	// Separate keys, exchange and stream from other tests on the same
	// servers.
	var b [4]byte
	rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	regSettings := fmt.Sprintf(`{"prefix": "micro-e2e-%s:registry:"}`, run)
	svcEnv := append(os.Environ(),
		"MICRO_REGISTRY_ADDRESS="+redisURL,
		"MICRO_REGISTRY_SETTINGS="+regSettings,
	)

	check := func(t *testing.T, brokerName, brokerAddr, brokerSettings string) {
		bin := filepath.Join(tmp, "greeter-"+brokerName)
		goIn(t, project, "build", "-o", bin, ".")
		envB := append(svcEnv[:len(svcEnv):len(svcEnv)], "MICRO_BROKER_ADDRESS="+brokerAddr, "MICRO_BROKER_SETTINGS="+brokerSettings)
		a := startInstance(t, bin, project, envB)
		b := startInstance(t, bin, project, envB)

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		log := slog.New(slog.DiscardHandler)
		cfg := resolve.Config{
			Registry: resolve.Component{Name: "redis", Address: redisURL, Settings: []byte(regSettings)},
			Broker:   resolve.Component{Name: brokerName, Address: brokerAddr, Settings: []byte(brokerSettings)},
		}
		client, err := micro.New("e2e-client", micro.WithLogger(log), micro.WithConfig(cfg), micro.WithResolver(resolve.New(resolve.WithFactories(inproc.Factories()))))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()

		// Both instances registered.
		for {
			svcs, err := client.Registry().Lookup(ctx, "greeter")
			nodes := 0
			if err == nil {
				for _, s := range svcs {
					nodes += len(s.Nodes)
				}
			}
			if nodes >= 2 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("2 instances did not register (%d nodes, %v); logs:\n%s\n%s", nodes, err, a.Out.String(), b.Out.String())
			case <-time.After(100 * time.Millisecond):
			}
		}

		type helloReq struct {
			Name string `json:"name"`
		}
		type helloRsp struct {
			Greeting string `json:"greeting"`
		}
		var rsp helloRsp
		if err := client.Client().Call(ctx, "greeter", "Greeter.Hello", &helloReq{Name: "e2e"}, &rsp); err != nil {
			t.Fatalf("call Greeter.Hello: %v; logs:\n%s\n%s", err, a.Out.String(), b.Out.String())
		}
		if rsp.Greeting != "Hello, e2e!" {
			t.Fatalf("Greeter.Hello = %q, want %q", rsp.Greeting, "Hello, e2e!")
		}

		name := "ev-" + brokerName + "-" + run
		if err := client.Client().Publish(ctx, "greeter.events", &helloReq{Name: name}); err != nil {
			t.Fatalf("publish: %v", err)
		}
		for a.received(name)+b.received(name) < 1 {
			select {
			case <-ctx.Done():
				t.Fatalf("no instance received the event; logs:\n%s\n%s", a.Out.String(), b.Out.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		// Exactly once: the two instances share a queue group. Give a
		// duplicate time to arrive.
		time.Sleep(2 * time.Second)
		if n := a.received(name) + b.received(name); n != 1 {
			t.Fatalf("the event was received %d times, want once; logs:\n%s\n%s", n, a.Out.String(), b.Out.String())
		}
		a.stop(t)
		b.stop(t)
	}

	t.Run("rabbitmq", func(t *testing.T) {
		check(t, "rabbitmq", amqpURL, `{"exchange": "micro-e2e-scaffold"}`)
	})
	if t.Failed() {
		return
	}

	out = microNew(t, mn, project, env, "use", "broker", "nats")
	if !strings.Contains(out, "update    micro_gen.go") || !strings.Contains(out, "update    micro.json") {
		t.Fatalf("micro-new use output:\n%s", out)
	}
	if got, _ := os.ReadFile(handlerPath); string(got) != string(edited) {
		t.Fatalf("micro-new use changed the user's handler:\n%s", got)
	}
	if got, _ := os.ReadFile(clientPath); string(got) != string(clientFile) {
		t.Fatalf("micro-new use changed the typed client:\n%s", got)
	}
	t.Run("nats", func(t *testing.T) {
		check(t, "nats", natsURL, `{"subject_prefix": "microe2escaffold", "stream": "MICRO_E2E_SCAFFOLD"}`)
	})
}
