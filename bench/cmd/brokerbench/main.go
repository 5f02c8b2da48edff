// Command brokerbench compares each broker plugin with the client library it
// is built on, used directly for the same work (bench/broker*.go says what
// that is for each), against the real servers, in one run: the raw library
// ("raw"), the plugin in process ("inproc"), and the plugin out of process
// ("plugin": its binary, built at the start of the run and started through
// core/plugin with its checksum pinned).
//
// Two measurements per broker and system, 1 KiB messages:
//
//   - publish: -publishers goroutines publish for -duration (after -warmup),
//     each waiting until the server has stored its message (publisher
//     confirm, XADD reply, PubAck) before the next; messages per second.
//   - pubsub: one queue group member subscribes, -publishers goroutines
//     publish -messages messages the same way, and the time runs until the
//     member has handled and acknowledged every one; messages per second.
//
// Each figure is measured -rounds times, the three systems in a rotated
// order each round so that none always goes first (-tests and -systems
// narrow a run to some of them). It prints a row per measurement, with the
// CPU time per message of this process and of the plugin process (on
// Linux; the server's is not counted), which varies far less from run to
// run than throughput on a shared machine, and the machine's busy and
// stolen CPU shares while measuring (near 100% busy: the machine was the
// limit; steal: other guests of the hypervisor slowed that measurement);
// then the medians, and then one `ratio <name> <value>` line per
// figure: the median of micro divided by the median of raw (targets: in
// process >= 0.9, out of process >= 0.8). It exits non-zero when a server is
// missing or a message failed or was not consumed.
//
//	go run ./bench/cmd/brokerbench
//	go run ./bench/cmd/brokerbench -brokers=nats -duration=5s -messages=50000
//	go run ./bench/cmd/brokerbench -brokers=redis -systems=plugin -messages=200000   # one system, to profile
//	go run ./bench/cmd/brokerbench -brokers=redis,nats -systems=raw,plugin -tests=pubsub
//
// Everything it creates has a name of its own for the run (exchange
// microbench-<id>, key prefix microbench:<id>:, stream MICROBENCH_<id>) and
// is deleted at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/bench"
	"github.com/seedmicro/micro/core/plugin"
)

var known = []string{"rabbitmq", "redis", "nats"}

type flags struct {
	brokers     []string
	duration    time.Duration
	warmup      time.Duration
	messages    int
	publishers  int
	concurrency int
	procs       int
	gogc        int
	systems     []string
	tests       []string
	size        int
	rounds      int
	timeout     time.Duration
	amqpURL     string
	redisURL    string
	natsURL     string
	cpuprofile  string
	verbose     bool
}

func main() {
	var f flags
	brokers := flag.String("brokers", strings.Join(known, ","), "brokers to measure, comma-separated: "+strings.Join(known, ", "))
	flag.DurationVar(&f.duration, "duration", time.Second, "publish: measuring time per system")
	flag.DurationVar(&f.warmup, "warmup", 300*time.Millisecond, "publish: warm-up before each measurement")
	flag.IntVar(&f.messages, "messages", 20000, "pubsub: messages published and consumed per system (after a warm-up of a tenth as many, at most 500)")
	flag.IntVar(&f.publishers, "publishers", 16, "concurrent publishers")
	flag.IntVar(&f.concurrency, "concurrency", 16, "pubsub: handler calls a micro subscription runs at once (broker.Concurrency); the raw consumers' handlers do no I/O and ack in a loop")
	flag.IntVar(&f.procs, "procs", plugin.DefaultProcs, "GOMAXPROCS of the plugin processes (plugin.WithProcs; 0: the Go runtime's default)")
	flag.IntVar(&f.gogc, "gogc", plugin.DefaultGCPercent, "GOGC of the plugin processes (plugin.WithGCPercent; 0: the Go runtime's default)")
	tests := flag.String("tests", "publish,pubsub", "measurements to make, comma-separated: publish, pubsub")
	systems := flag.String("systems", "raw,inproc,plugin", "systems to measure, comma-separated (fewer for profiling one; ratios need raw)")
	flag.IntVar(&f.size, "size", 1024, "message body size in bytes")
	flag.IntVar(&f.rounds, "rounds", 3, "measure each figure this many times, the systems in a rotated order each round; the ratios use the median")
	flag.DurationVar(&f.timeout, "timeout", 30*time.Second, "pubsub: longest wait for the messages to be consumed")
	flag.StringVar(&f.amqpURL, "amqp", envOr("MICRO_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/"), "RabbitMQ server")
	flag.StringVar(&f.redisURL, "redis", envOr("MICRO_TEST_REDIS", "redis://127.0.0.1:6379/0"), "Redis server")
	flag.StringVar(&f.natsURL, "nats", envOr("MICRO_TEST_NATS", "nats://127.0.0.1:4222"), "NATS server, with JetStream")
	flag.StringVar(&f.cpuprofile, "cpuprofile", "", "write this process's CPU profile to the file (the plugin processes are not in it)")
	flag.BoolVar(&f.verbose, "v", false, "log what the brokers and plugins log at Info level (default: Warn)")
	flag.Parse()
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if !slices.Contains(known, b) {
			fatal(fmt.Errorf("unknown broker %q in -brokers; want some of %s", b, strings.Join(known, ",")))
		}
		if !slices.Contains(f.brokers, b) {
			f.brokers = append(f.brokers, b)
		}
	}
	for _, sys := range strings.Split(*systems, ",") {
		if sys = strings.TrimSpace(sys); sys == "" {
			continue
		}
		if !slices.Contains([]string{"raw", "inproc", "plugin"}, sys) {
			fatal(fmt.Errorf("unknown system %q in -systems; want some of raw,inproc,plugin", sys))
		}
		f.systems = append(f.systems, sys)
	}
	for _, t := range strings.Split(*tests, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if t != "publish" && t != "pubsub" {
			fatal(fmt.Errorf("unknown test %q in -tests; want some of publish,pubsub", t))
		}
		f.tests = append(f.tests, t)
	}
	switch {
	case len(f.tests) == 0:
		fatal(errors.New("-tests is empty"))
	case len(f.systems) == 0:
		fatal(errors.New("-systems is empty"))
	case len(f.brokers) == 0:
		fatal(errors.New("-brokers is empty"))
	case f.publishers < 1 || f.messages < 1 || f.rounds < 1 || f.duration <= 0:
		fatal(errors.New("-publishers, -messages, -rounds and -duration must be positive"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	failed, err := profiled(f.cpuprofile, func() (bool, error) { return run(ctx, &f) })
	stop()
	if err != nil {
		fatal(err)
	}
	if failed {
		fmt.Fprintln(os.Stderr, "brokerbench: some messages failed or were not consumed; the figures are not comparable")
		os.Exit(1)
	}
}

// profiled runs f, writing this process's CPU profile to path unless it
// is empty.
func profiled(path string, f func() (bool, error)) (bool, error) {
	if path == "" {
		return f()
	}
	pf, err := os.Create(path)
	if err != nil {
		return false, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return false, err
	}
	failed, err := f()
	pprof.StopCPUProfile()
	return failed, errors.Join(err, pf.Close())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "brokerbench:", err)
	os.Exit(1)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// redisLog passes go-redis's own messages to the log, at Info level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.InfoContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// key names one figure.
type key struct{ broker, test, system string }

func run(ctx context.Context, f *flags) (failed bool, err error) {
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// go-redis prints its connection pool's dial failures itself; the
	// errors it returns say the same.
	goredis.SetLogger(redisLog{log})
	id := bench.RunID()

	// Servers first: a missing one fails the run before anything is built.
	var envs []bench.BrokerEnv
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, e := range envs {
			if cerr := e.Close(cctx); cerr != nil {
				fmt.Fprintln(os.Stderr, "brokerbench:", cerr)
			}
		}
	}()
	var (
		missing []error
		present []string
	)
	for _, name := range f.brokers {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var e bench.BrokerEnv
		switch name {
		case "rabbitmq":
			e, err = bench.NewRabbitMQ(cctx, f.amqpURL, id, log)
		case "redis":
			e, err = bench.NewRedis(cctx, f.redisURL, id, log)
		case "nats":
			e, err = bench.NewNATS(cctx, f.natsURL, id, log)
		}
		cancel()
		if err != nil {
			missing = append(missing, err)
			continue
		}
		envs = append(envs, e)
		present = append(present, name)
	}
	if len(missing) > 0 {
		hint := "start the server (.ci/run starts all three)"
		if len(present) > 0 {
			hint += ", or leave it out: -brokers=" + strings.Join(present, ",")
		}
		return false, fmt.Errorf("%w\n%s", errors.Join(missing...), hint)
	}

	bins, dir, err := buildPlugins(ctx, f.brokers)
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)

	body := bench.Body(f.size)
	warm := min(500, f.messages/10)
	results := map[key][]bench.BrokerResult{}
	fmt.Printf("# %d publishers, %d-byte messages; publish: %v per system; pubsub: %d messages per system; run %s\n",
		f.publishers, f.size, f.duration, f.messages, id)
	fmt.Println("# cpu: CPU time per message of this process (host) and of the plugin process, in µs; the server's is not counted")
	fmt.Println("# busy, steal: shares of the machine's CPU time (all CPUs) busy, and taken by the hypervisor for other guests, while measuring")
	fmt.Printf("%-9s %-8s %-7s %9s %8s %10s %7s %6s %8s %8s %5s %5s\n", "broker", "test", "system", "messages", "seconds", "msg/s", "errors", "extra", "host_cpu", "plug_cpu", "busy", "steal")
	record := func(k key, r bench.BrokerResult) {
		fmt.Printf("%-9s %-8s %-7s %9d %8.2f %10.0f %7d %6d %8s %8s %5s %5s\n", k.broker, k.test, k.system, r.Messages, r.Elapsed.Seconds(), r.Rate, r.Errors, r.Extra,
			micros(r.HostCPUPerMessage()), micros(r.PluginCPUPerMessage()), percent(r.Busy), percent(r.Steal))
		if r.Errors > 0 {
			failed = true
		}
		results[k] = append(results[k], r)
	}

	for i, env := range envs {
		if err := ctx.Err(); err != nil {
			return failed, err
		}
		all, err := open(ctx, env, body, bins[env.Name()], f.concurrency, f.procs, f.gogc, log)
		if err != nil {
			return failed, err
		}
		var systems []*bench.BrokerSystem
		for _, s := range all {
			if slices.Contains(f.systems, s.Name) {
				systems = append(systems, s)
			} else {
				closeAll(ctx, []*bench.BrokerSystem{s})
			}
		}
		err = measure(ctx, env, systems, f, warm, i, record)
		closeAll(ctx, systems)
		if err != nil {
			return failed, err
		}
	}

	fmt.Println()
	fmt.Printf("# median msg/s of %d rounds\n", f.rounds)
	fmt.Printf("%-9s %-8s %10s %10s %10s\n", "broker", "test", "raw", "inproc", "plugin")
	for _, env := range envs {
		for _, test := range []string{"publish", "pubsub"} {
			fmt.Printf("%-9s %-8s", env.Name(), test)
			for _, sys := range []string{"raw", "inproc", "plugin"} {
				fmt.Printf(" %10.0f", median(results[key{env.Name(), test, sys}]))
			}
			fmt.Println()
		}
	}
	fmt.Println()
	fmt.Printf("# ratios are micro msg/s divided by raw msg/s, each the median of %d rounds; targets: inproc >= 0.9, plugin >= 0.8\n", f.rounds)
	for _, env := range envs {
		n := env.Name()
		for _, test := range []string{"publish", "pubsub"} {
			raw := median(results[key{n, test, "raw"}])
			for _, sys := range []string{"inproc", "plugin"} {
				if r := median(results[key{n, test, sys}]); raw > 0 && r > 0 {
					fmt.Printf("ratio broker_%s_%s_%s_vs_raw %.2f\n", n, test, sys, r/raw)
				}
			}
		}
	}
	return failed, nil
}

// measure runs the publish and then the pubsub measurements of env's
// systems, rounds times, rotating the order of the systems from one round
// (and one broker) to the next.
func measure(ctx context.Context, env bench.BrokerEnv, systems []*bench.BrokerSystem, f *flags, warm, shift int, record func(key, bench.BrokerResult)) error {
	const group = "bench"
	for round := range f.rounds {
		if !slices.Contains(f.tests, "publish") {
			break
		}
		order := rotate(systems, shift+round)
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			topic := fmt.Sprintf("bench.publish.%s.r%d", s.Name, round)
			if err := env.Prepare(ctx, topic, group); err != nil {
				return fmt.Errorf("%s: %w", env.Name(), err)
			}
			r := bench.MeasurePublish(s, topic, f.publishers, f.warmup, f.duration)
			record(key{env.Name(), "publish", s.Name}, r)
			if err := env.Drop(ctx, topic, group); err != nil {
				fmt.Fprintf(os.Stderr, "brokerbench: %s: clean up %s: %v\n", env.Name(), topic, err)
			}
		}
	}
	for round := range f.rounds {
		if !slices.Contains(f.tests, "pubsub") {
			break
		}
		order := rotate(systems, shift+round)
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			topic := fmt.Sprintf("bench.pubsub.%s.r%d", s.Name, round)
			r, err := bench.MeasurePubSub(s, topic, group, f.publishers, warm, f.messages, f.timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", env.Name(), err)
			}
			record(key{env.Name(), "pubsub", s.Name}, r)
			if err := env.Drop(ctx, topic, group); err != nil {
				fmt.Fprintf(os.Stderr, "brokerbench: %s: clean up %s: %v\n", env.Name(), topic, err)
			}
		}
	}
	return nil
}

// percent formats a share as a whole percentage, or "-" when unknown.
func percent(f float64) string {
	if f < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

// micros formats a CPU time per message in µs: "-" when unknown or none.
func micros(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond))
}

// median returns the median rate of rs.
func median(rs []bench.BrokerResult) float64 {
	if len(rs) == 0 {
		return 0
	}
	rates := make([]float64, len(rs))
	for i, r := range rs {
		rates[i] = r.Rate
	}
	slices.Sort(rates)
	if n := len(rates); n%2 == 0 {
		return (rates[n/2-1] + rates[n/2]) / 2
	}
	return rates[len(rates)/2]
}

func rotate[T any](s []T, n int) []T {
	n %= len(s)
	return append(slices.Clone(s[n:]), s[:n]...)
}

// open returns env's three systems: raw, inproc and plugin.
func open(ctx context.Context, env bench.BrokerEnv, body []byte, bin bench.PluginBinary, concurrency, procs, gogc int, log *slog.Logger) ([]*bench.BrokerSystem, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var systems []*bench.BrokerSystem
	fail := func(what string, err error) ([]*bench.BrokerSystem, error) {
		closeAll(ctx, systems)
		return nil, fmt.Errorf("%s: %s: %w", env.Name(), what, err)
	}
	raw, err := env.Raw(ctx, body)
	if err != nil {
		return fail("raw client", err)
	}
	systems = append(systems, raw)
	in, err := env.Micro(ctx)
	if err != nil {
		return fail("in-process broker", err)
	}
	systems = append(systems, bench.MicroSystem("inproc", in, body, concurrency))
	pc, err := plugin.Open(ctx, bin.Path, plugin.KindBroker,
		plugin.WithSettings(env.Settings()),
		plugin.WithChecksum(bin.Sum),
		plugin.WithProcs(procs),
		plugin.WithGCPercent(gogc),
		plugin.WithLogger(log))
	if err != nil {
		return fail("plugin "+bin.Path, err)
	}
	out := bench.MicroSystem("plugin", pc.Broker(), body, concurrency)
	out.PluginPID = pc.PID
	systems = append(systems, out)
	return systems, nil
}

func closeAll(ctx context.Context, systems []*bench.BrokerSystem) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	for _, s := range systems {
		if err := s.Close(cctx); err != nil {
			fmt.Fprintf(os.Stderr, "brokerbench: close %s: %v\n", s.Name, err)
		}
	}
}

// buildPlugins builds the plugin binary of each broker,
// plugins/broker/<name>/cmd/micro-plugin-broker-<name>, into a temporary
// directory, and returns them by broker with that directory.
func buildPlugins(ctx context.Context, brokers []string) (map[string]bench.PluginBinary, string, error) {
	root, err := bench.ModuleRoot(ctx)
	if err != nil {
		return nil, "", err
	}
	var pkgs []string
	for _, b := range brokers {
		pkg := "./plugins/broker/" + b + "/cmd/micro-plugin-broker-" + b
		if !bench.Exists(root, pkg) {
			return nil, "", fmt.Errorf("%s: no plugin binary to build: %s does not exist", b, pkg)
		}
		pkgs = append(pkgs, pkg)
	}
	dir, err := os.MkdirTemp("", "brokerbench-")
	if err != nil {
		return nil, "", err
	}
	start := time.Now()
	built, err := bench.BuildPlugins(ctx, dir, pkgs)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	bins := map[string]bench.PluginBinary{}
	for i, b := range brokers {
		bins[b] = built[pkgs[i]]
		fmt.Fprintf(os.Stderr, "brokerbench: built %s, sha256 %x\n", pkgs[i], bins[b].Sum)
	}
	fmt.Fprintf(os.Stderr, "brokerbench: plugins built in %v\n", time.Since(start).Round(100*time.Millisecond))
	return bins, dir, nil
}
