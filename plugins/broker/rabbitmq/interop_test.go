package rabbitmq_test

import (
	"bytes"
	"cmp"
	"context"
	"net"
	neturl "net/url"
	"os/exec"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/plugins/broker/rabbitmq"
)

// tool returns the path of a command, failing t when it is not installed.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		pkg := "Debian's amqp-tools (apt-get install amqp-tools)"
		if name == "rabbitmqctl" {
			pkg = "RabbitMQ (apt-get install rabbitmq-server), on the machine of the server"
		}
		t.Fatalf("%s not found: install %s: %v", name, pkg, err)
	}
	return path
}

// toolURL returns url as librabbitmq, behind the amqp-tools, reads it. It
// takes the path of a URL literally, so "amqp://host/" names the vhost ""
// and the default vhost "/" must be written "%2f".
func toolURL(t *testing.T, url string) string {
	t.Helper()
	uri, err := amqp.ParseURI(url)
	if err != nil {
		t.Fatal(err)
	}
	u := neturl.URL{
		Scheme:  uri.Scheme,
		User:    neturl.UserPassword(uri.Username, uri.Password),
		Host:    net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)),
		Path:    "/" + uri.Vhost,
		RawPath: "/" + neturl.PathEscape(uri.Vhost),
	}
	return u.String()
}

// run runs a command, failing t with its output when it fails.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestInteropAMQPPublish publishes with amqp-publish, as README.md shows, to
// a micro subscriber.
func TestInteropAMQPPublish(t *testing.T) {
	for _, group := range []string{"", "workers"} {
		t.Run(cmp.Or(group, "no group"), func(t *testing.T) {
			f := newFixture(t)
			b := f.open(t, f.config())
			topic := unique("interop.in.")
			r := new(recv)
			var opts []broker.SubscribeOption
			if group != "" {
				opts = append(opts, broker.Queue(group))
			}
			if _, err := b.Subscribe(t.Context(), topic, r.handle, opts...); err != nil {
				t.Fatal(err)
			}
			body := `{"order": 42}`
			run(t, "amqp-publish", "-u", toolURL(t, f.url), "-e", f.exchange, "-r", topic, "-p",
				"-C", "application/json", "-H", "X-Tenant: acme", "-b", body)

			got := r.wait(t, 1)[0]
			if string(got.Body) != body {
				t.Errorf("body %q, want %q", got.Body, body)
			}
			want := map[string]string{
				rabbitmq.ContentTypeHeader: "application/json",
				"X-Tenant":                 "acme",
				broker.DeliveryHeader:      "1",
			}
			for k, v := range want {
				if got.Header[k] != v {
					t.Errorf("header %s = %q, want %q (headers %v)", k, got.Header[k], v, got.Header)
				}
			}
			if got.ID == "" {
				t.Error("message without message-id delivered with an empty ID")
			}
		})
	}
}

// TestInteropAMQPGet publishes with micro and reads with amqp-get and
// amqp-consume from queues bound to the exchange, and checks the AMQP
// properties with a plain client.
func TestInteropAMQPGet(t *testing.T) {
	f := newFixture(t)
	b := f.open(t, f.config())
	ch := f.channel(t)
	topic := unique("interop.out.")
	queues := map[string]string{}
	for _, reader := range []string{"amqp-get", "amqp-consume", "client"} {
		q := unique("microtest-interop-" + reader + "-")
		f.addQueue(q)
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind(q, topic, f.exchange, false, nil); err != nil {
			t.Fatal(err)
		}
		queues[reader] = q
	}
	msg := &broker.Message{
		ID:     "order-42",
		Header: map[string]string{rabbitmq.ContentTypeHeader: "application/json", "X-Tenant": "acme"},
		Body:   []byte(`{"order": 42}`),
	}
	if err := b.Publish(t.Context(), topic, msg); err != nil {
		t.Fatal(err)
	}

	if got := run(t, "amqp-get", "-u", toolURL(t, f.url), "-q", queues["amqp-get"]); string(got) != string(msg.Body) {
		t.Errorf("amqp-get printed %q, want %q", got, msg.Body)
	}
	if got := run(t, "amqp-consume", "-u", toolURL(t, f.url), "-q", queues["amqp-consume"], "-c", "1", "cat"); string(got) != string(msg.Body) {
		t.Errorf("amqp-consume printed %q, want %q", got, msg.Body)
	}

	d := getOne(t, ch, queues["client"])
	checks := []struct {
		what      string
		got, want any
	}{
		{"exchange", d.Exchange, f.exchange},
		{"routing key", d.RoutingKey, topic},
		{"message-id", d.MessageId, "order-42"},
		{"content-type", d.ContentType, "application/json"},
		{"delivery mode", d.DeliveryMode, amqp.Persistent},
		{"headers", len(d.Headers), 1},
		{"header X-Tenant", d.Headers["X-Tenant"], "acme"},
		{"body", string(d.Body), string(msg.Body)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if d.Timestamp.IsZero() {
		t.Error("no timestamp")
	}
}
