package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seedmicro/micro/core/broker"
)

// The broker benchmarks compare each broker plugin with the client library
// it is built on, used directly for the same work: the same messages (1 KiB
// body, a content type, a message ID where the plugin sends one), the same
// delivery settings (publisher confirms or their equivalent awaited per
// message, one queue group member acknowledging each message, the same
// prefetch), against the same server. Each plugin runs twice: in process (its
// Go package) and out of process (its plugin binary, through core/plugin).
// `go run ./bench/cmd/brokerbench` prints the figures and the ratios.

// ContentType is the content type every benchmark message carries.
const ContentType = "application/octet-stream"

// BrokerSystem is one way of doing broker work: a raw client library, or a
// micro broker. Publish publishes one message to topic and returns once the
// server has stored it. Subscribe joins queue group group of topic and calls
// got for every message before acknowledging it; stop ends the subscription.
type BrokerSystem struct {
	Name      string
	Publish   func(ctx context.Context, topic string) error
	Subscribe func(ctx context.Context, topic, group string, got func()) (stop func(context.Context) error, err error)
	Close     func(ctx context.Context) error
	// PluginPID, if set, gives the process ID of the plugin process the
	// system works through, whose CPU time the measurements then report.
	PluginPID func() int
}

// MicroSystem measures a micro broker.Broker, in process or through a
// plugin: it publishes a message with body and a Content-Type header, and
// leaves the message ID to the broker. Its subscriber runs up to
// concurrency handler calls at once (broker.Concurrency; 0 or 1 means one at
// a time).
func MicroSystem(name string, b broker.Broker, body []byte, concurrency int) *BrokerSystem {
	msg := &broker.Message{Header: map[string]string{"Content-Type": ContentType}, Body: body}
	return &BrokerSystem{
		Name: name,
		Publish: func(ctx context.Context, topic string) error {
			return b.Publish(ctx, topic, msg)
		},
		Subscribe: func(ctx context.Context, topic, group string, got func()) (func(context.Context) error, error) {
			sub, err := b.Subscribe(ctx, topic, func(context.Context, *broker.Message) error {
				got()
				return nil
			}, broker.Queue(group), broker.Concurrency(concurrency))
			if err != nil {
				return nil, err
			}
			return sub.Unsubscribe, nil
		},
		Close: b.Close,
	}
}

// BrokerEnv is one broker server prepared for a run, with names of its own
// (an exchange, a key prefix, a stream) that nothing else uses. Everything
// it and the systems it makes create goes by those names, and Close deletes
// it.
type BrokerEnv interface {
	// Name is the plugin's name: rabbitmq, redis, nats.
	Name() string
	// Raw returns the raw client library's system.
	Raw(ctx context.Context, body []byte) (*BrokerSystem, error)
	// Micro returns the plugin's broker, in process, configured as Settings.
	Micro(ctx context.Context) (broker.Broker, error)
	// Settings are the plugin's settings, as JSON: the same as Micro's.
	Settings() []byte
	// Prepare makes messages published to topic be stored for queue group
	// group before any member subscribes (RabbitMQ drops a message that no
	// queue is bound for).
	Prepare(ctx context.Context, topic, group string) error
	// Drop deletes what topic and its queue group group left on the server.
	Drop(ctx context.Context, topic, group string) error
	// Close deletes everything the run created and disconnects.
	Close(ctx context.Context) error
}

// BrokerResult is one measurement.
type BrokerResult struct {
	Messages int           // messages published (publish) or consumed (pubsub)
	Errors   int           // failed publishes, and messages not consumed in time
	Extra    int           // pubsub: deliveries beyond one per message published, until the subscription stopped
	Elapsed  time.Duration // measuring time
	Rate     float64       // messages per second
	// CPU time used while measuring, by this process and by the plugin
	// process (0 without one); -1 where it cannot be read (see ProcessCPU).
	HostCPU, PluginCPU time.Duration
	// Busy and Steal are the shares of the machine's CPU time, all CPUs
	// together, that were busy and that the hypervisor gave to other
	// guests while measuring; -1 where unknown. A busy share near 1 says
	// the machine was the limit; a large steal, that other guests slowed
	// this measurement and not the others of the round.
	Busy, Steal float64
}

// HostCPUPerMessage and PluginCPUPerMessage are the CPU time per message
// of the two processes, or -1 if unknown.
func (r BrokerResult) HostCPUPerMessage() time.Duration   { return perMessage(r.HostCPU, r.Messages) }
func (r BrokerResult) PluginCPUPerMessage() time.Duration { return perMessage(r.PluginCPU, r.Messages) }

func perMessage(d time.Duration, n int) time.Duration {
	if d < 0 || n <= 0 {
		return -1
	}
	return d / time.Duration(n)
}

// cpuMeter samples the CPU time of this process, of s's plugin process and
// of the machine.
type cpuMeter struct {
	s                  *BrokerSystem
	pid                int
	host, plugin       time.Duration
	hostErr, pluginErr error
	busy, steal, total time.Duration
	machineErr         error
}

func startCPU(s *BrokerSystem) *cpuMeter {
	m := &cpuMeter{s: s}
	m.busy, m.steal, m.total, m.machineErr = MachineCPU()
	m.host, m.hostErr = ProcessCPU(0)
	if s.PluginPID != nil {
		if m.pid = s.PluginPID(); m.pid != 0 {
			m.plugin, m.pluginErr = ProcessCPU(m.pid)
		}
	}
	return m
}

// stop fills r's HostCPU, PluginCPU, Busy and Steal with what was used
// since start. A plugin that restarted meanwhile is reported as unknown.
func (m *cpuMeter) stop(r *BrokerResult) {
	r.HostCPU, r.PluginCPU = -1, 0
	if h, err := ProcessCPU(0); err == nil && m.hostErr == nil {
		r.HostCPU = h - m.host
	}
	r.Busy, r.Steal = -1, -1
	if busy, steal, total, err := MachineCPU(); err == nil && m.machineErr == nil && total > m.total {
		t := float64(total - m.total)
		r.Busy, r.Steal = float64(busy-m.busy)/t, float64(steal-m.steal)/t
	}
	if m.s.PluginPID == nil {
		return
	}
	r.PluginCPU = -1
	if m.pid != 0 && m.pluginErr == nil && m.s.PluginPID() == m.pid {
		if p, err := ProcessCPU(m.pid); err == nil {
			r.PluginCPU = p - m.plugin
		}
	}
}

// publishTimeout bounds a measurement's publishes beyond its planned end,
// so that a server that stops answering fails the run instead of hanging it.
const publishTimeout = 30 * time.Second

// MeasurePublish publishes to topic from publishers goroutines, each waiting
// for its message to be stored before it publishes the next, for warmup
// and then for d, and returns the throughput of the second period.
func MeasurePublish(s *BrokerSystem, topic string, publishers int, warmup, d time.Duration) BrokerResult {
	run := func(d time.Duration) (int, int, time.Duration) {
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(d)
		ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(publishTimeout))
		defer cancel()
		for range publishers {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if err := s.Publish(ctx, topic); err != nil {
						if failed.Add(1) == 1 {
							fmt.Fprintf(os.Stderr, "brokerbench: %s publish: %v\n", s.Name, err)
						}
						if ctx.Err() != nil {
							return
						}
						continue
					}
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		return int(ok.Load()), int(failed.Load()), time.Since(start)
	}
	if warmup > 0 {
		run(warmup)
	}
	cpu := startCPU(s)
	n, nerr, elapsed := run(d)
	r := BrokerResult{Messages: n, Errors: nerr, Elapsed: elapsed, Rate: float64(n) / elapsed.Seconds()}
	cpu.stop(&r)
	return r
}

// MeasurePubSub subscribes one member of queue group group to topic, then
// publishes warm messages from publishers goroutines and waits until they
// are consumed, then publishes n more the same way and measures the time
// until the member has consumed (and acknowledged) every one of them. It
// gives up waiting after timeout and counts what was not consumed as
// errors.
func MeasurePubSub(s *BrokerSystem, topic, group string, publishers, warm, n int, timeout time.Duration) (BrokerResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+publishTimeout)
	defer cancel()
	// consumed counts deliveries; reached is closed once it gets to target
	// (0: no target, or reached already).
	var (
		consumed atomic.Int64
		mu       sync.Mutex
		target   int64
		reached  chan struct{}
	)
	expect := func(t int64) <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		target, reached = t, make(chan struct{})
		if consumed.Load() >= t {
			target = 0
			close(reached)
		}
		return reached
	}
	got := func() {
		c := consumed.Add(1)
		mu.Lock()
		if target != 0 && c >= target {
			target = 0
			close(reached)
		}
		mu.Unlock()
	}
	stop, err := s.Subscribe(ctx, topic, group, got)
	if err != nil {
		return BrokerResult{}, fmt.Errorf("%s: subscribe: %w", s.Name, err)
	}
	publish := func(count int) int {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for range publishers {
			wg.Go(func() {
				for next.Add(1) <= int64(count) {
					if err := s.Publish(ctx, topic); err != nil {
						if failed.Add(1) == 1 {
							fmt.Fprintf(os.Stderr, "brokerbench: %s publish: %v\n", s.Name, err)
						}
					}
				}
			})
		}
		wg.Wait()
		return int(failed.Load())
	}
	wait := func(done <-chan struct{}) bool {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-done:
			return true
		case <-t.C:
			return false
		}
	}

	var r BrokerResult
	if warm > 0 {
		done := expect(int64(warm))
		r.Errors += publish(warm)
		if !wait(done) {
			stop(context.Background())
			return r, fmt.Errorf("%s: %d of %d warm-up messages consumed after %v", s.Name, consumed.Load(), warm, timeout)
		}
	}
	base := consumed.Load()
	done := expect(base + int64(n))
	cpu := startCPU(s)
	start := time.Now()
	failed := publish(n)
	r.Errors += failed
	if !wait(done) {
		r.Errors += int(base + int64(n) - consumed.Load())
	}
	r.Elapsed = time.Since(start)
	cpu.stop(&r)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := stop(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "brokerbench: %s unsubscribe: %v\n", s.Name, err)
	}
	total := consumed.Load()
	r.Messages = int(min(total-base, int64(n)))
	r.Extra = int(max(0, total-base-int64(n-failed)))
	r.Rate = float64(r.Messages) / r.Elapsed.Seconds()
	return r, nil
}

// PluginBinary is a plugin binary built for a run.
type PluginBinary struct {
	Path   string
	Sum    []byte // SHA-256
	Source string // the package it was built from
}

// BuildPlugins builds the main packages pkgs (import paths of this
// module, such as "./plugins/broker/nats/cmd/micro-plugin-broker-nats")
// into dir, in one go build run in the module's root, and returns each
// binary with its checksum, by package. The binaries are named as their
// package's last element.
func BuildPlugins(ctx context.Context, dir string, pkgs []string) (map[string]PluginBinary, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	bins := make(map[string]PluginBinary, len(pkgs))
	for _, pkg := range pkgs {
		p := filepath.Join(dir, filepath.Base(pkg))
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, err
		}
		bins[pkg] = PluginBinary{Path: p, Sum: sum, Source: pkg}
	}
	return bins, nil
}

// ModuleRoot returns the directory of the main module
// (github.com/seedmicro/micro) the go command sees from here.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/seedmicro/micro").Output()
	if err != nil {
		return "", fmt.Errorf("locating the module github.com/seedmicro/micro (run from inside it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Exists reports whether the package directory pkg (relative to the module
// root) exists.
func Exists(root, pkg string) bool {
	fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(pkg)))
	return err == nil && fi.IsDir()
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// settingsJSON returns cfg, a plugin's Config, as the JSON settings of its
// out-of-process form.
func settingsJSON(cfg any) []byte {
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(fmt.Sprintf("bench: settings %T: %v", cfg, err)) // a Config always marshals
	}
	return b
}

// rawIDs returns a maker of the message IDs of a raw client's messages:
// a prefix of the run's own and a sequence number.
func rawIDs() func() string {
	var seq atomic.Uint64
	prefix := RunID() + RunID() + "-"
	return func() string { return prefix + strconv.FormatUint(seq.Add(1), 10) }
}

// RunID returns a random name part that makes a run's names its own.
func RunID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Body returns a message body of size random bytes.
func Body(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}

// errs joins the non-nil errors.
func errs(es ...error) error { return errors.Join(es...) }
