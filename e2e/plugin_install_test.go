package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/testkit"
)

// TestInstallRabbitMQPluginAndUseIt is what a user does to move a service
// onto RabbitMQ without rebuilding it: install the plugin, start the service
// with --broker rabbitmq, verify; and what happens when the installed binary
// is tampered with.
func TestInstallRabbitMQPluginAndUseIt(t *testing.T) {
	microNew := testkit.Binary(t, "../cmd/micro-new")
	service := testkit.Binary(t, "../examples/greeter/service")
	clientBin := testkit.Binary(t, "../examples/greeter/client")
	pluginDir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(pluginDir, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "MICRO_PLUGIN_DIR="+pluginDir, "MICRO_REGISTRY_DIR="+t.TempDir())
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// An empty plugin directory: install, then verify.
	if out, err := run(microNew, "install", "broker/rabbitmq"); err != nil {
		t.Fatalf("micro-new install broker/rabbitmq: %v\n%s", err, out)
	}
	binary := filepath.Join(pluginDir, "micro-plugin-broker-rabbitmq")
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("installed binary missing: %v", err)
	}
	if out, err := run(microNew, "verify"); err != nil {
		t.Fatalf("micro-new verify after install: %v\n%s", err, out)
	}

	// The service and the client use the plugin, out of process.
	flags := []string{"--broker", "rabbitmq", "--broker-address", testkit.AMQP.URL(t)}
	svc := exec.Command(service, flags...)
	svc.Env = env
	proc := testkit.Start(t, svc)
	logs := proc.Out
	out, err := run(clientBin, append([]string{"-name", "rabbit"}, flags...)...)
	if err != nil {
		t.Fatalf("client: %v\n%s\nservice log:\n%s", err, out, logs.String())
	}
	if !strings.Contains(out, "Hello, rabbit!") {
		t.Fatalf("client output %q", out)
	}
	proc.WaitFor(t, "event received", 15*time.Second)
	if procs := testkit.ProcessesIn(t, pluginDir); len(procs) == 0 {
		t.Fatal("no plugin process runs from the plugin directory: the broker is not out of process")
	}
	if err := proc.Stop(t, syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatalf("service exit: %v\n%s", err, logs.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(testkit.ProcessesIn(t, pluginDir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("plugin processes left after the service stopped: %v", testkit.ProcessesIn(t, pluginDir))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// One byte flipped: verify fails, and the service refuses the plugin.
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(binary, data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = run(microNew, "verify")
	if err == nil {
		t.Fatalf("verify passed on a tampered binary:\n%s", out)
	}
	if !strings.Contains(out, "broker/rabbitmq") || !strings.Contains(out, "micro-new install") {
		t.Fatalf("verify output does not name the plugin and the fix:\n%s", out)
	}
	out, err = run(service, flags...)
	if err == nil {
		t.Fatalf("service started with a tampered plugin:\n%s", out)
	}
	if !strings.Contains(out, "micro-new install broker/rabbitmq") || !strings.Contains(strings.ToLower(out), "checksum") {
		t.Fatalf("the service's refusal does not say why:\n%s", out)
	}
	if procs := testkit.ProcessesIn(t, pluginDir); len(procs) != 0 {
		t.Fatalf("a tampered plugin was started: %v", procs)
	}
	t.Logf("refusal: %s", strings.TrimSpace(out))
}
