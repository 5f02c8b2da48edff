package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"lukechampine.com/blake3"

	"github.com/seedmicro/micro/core/broker"
	brokermemory "github.com/seedmicro/micro/core/broker/memory"
	"github.com/seedmicro/micro/core/plugin"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/store"
	storememory "github.com/seedmicro/micro/core/store/memory"
)

// The plugin benchmarks compare one call of a broker's Publish and a
// store's Read made
//
//   - in process, on the core's memory implementations;
//   - through the plugin bridge, to the same implementations served by a
//     plugin process (the benchmark's own binary, started by plugin.Open
//     with its checksum verified): gRPC over a unix socket with mutual TLS;
//   - as a raw gRPC unary call to a minimal service of the same messages
//     (the bridge's PublishRequest and ReadResponse, 1 KiB each) in a child
//     process, over a unix socket, with the same mutual TLS (TLS 1.3, P-256
//     certificates) and without TLS.
//
// and streaming publish through the bridge (BrokerClient.NewPublisher)
// against raw gRPC client streaming of the same messages, and the start-up
// of a plugin, from Open to the first successful call.

// envPluginChild makes ServePluginChild serve: "store", "broker" or "raw".
const envPluginChild = "MICRO_PLUGINBENCH_CHILD"

// Environment of the raw child: its sockets and its TLS material (PEM).
const (
	envRawSocket    = "MICRO_PLUGINBENCH_SOCKET"
	envRawTLSSocket = "MICRO_PLUGINBENCH_TLS_SOCKET"
	envRawCert      = "MICRO_PLUGINBENCH_CERT"
	envRawKey       = "MICRO_PLUGINBENCH_KEY"
	envRawClientCA  = "MICRO_PLUGINBENCH_CLIENT_CA"
)

// PayloadSize is the size of a message body and of a stored value.
const PayloadSize = 1024

// benchKey is the key the store benchmarks read.
const benchKey = "bench"

// ServePluginChild serves what a child process of the plugin benchmarks was
// started to serve, and exits; in any other process it returns at once.
// Call it first in main or TestMain: the benchmarks start their own binary
// as the plugin and as the raw gRPC server.
func ServePluginChild() {
	switch os.Getenv(envPluginChild) {
	case "":
		return
	case "store":
		plugin.Serve(plugin.StoreFunc(func(ctx context.Context, _ *struct{}) (store.Store, error) {
			s := storememory.New()
			return s, s.Write(ctx, &store.Record{Key: benchKey, Value: bytes.Repeat([]byte{'v'}, PayloadSize)})
		}))
	case "broker":
		plugin.Serve(plugin.Broker(brokermemory.New()))
	case "raw":
		if err := serveRaw(); err != nil {
			fmt.Fprintln(os.Stderr, "raw gRPC server:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown child", os.Getenv(envPluginChild))
		os.Exit(2)
	}
	os.Exit(0)
}

// ------------------------------------------------------------- raw gRPC

// rawStore and rawBroker are the minimal services of the raw gRPC child.
type rawStore struct {
	pluginpb.UnimplementedStoreServer
	value []byte
}

func (s *rawStore) Read(context.Context, *pluginpb.ReadRequest) (*pluginpb.ReadResponse, error) {
	return &pluginpb.ReadResponse{Value: s.value}, nil
}

type rawBroker struct {
	pluginpb.UnimplementedBrokerServer
}

var rawEmpty = &pluginpb.Empty{}

func (rawBroker) Publish(context.Context, *pluginpb.PublishRequest) (*pluginpb.Empty, error) {
	return rawEmpty, nil
}

func (rawBroker) PublishStream(stream pluginpb.Broker_PublishStreamServer) error {
	var (
		req pluginpb.PublishRequest
		n   uint64
	)
	for {
		if err := stream.RecvMsg(&req); err != nil {
			if err == io.EOF {
				return stream.SendAndClose(&pluginpb.PublishStreamResponse{Published: n})
			}
			return err
		}
		n++
	}
}

// serveRaw serves the raw services on a plain and a TLS unix socket, says
// "ready" on standard output, and returns when standard input closes (the
// parent is done, or gone).
func serveRaw() error {
	cert, err := tls.X509KeyPair([]byte(os.Getenv(envRawCert)), []byte(os.Getenv(envRawKey)))
	if err != nil {
		return err
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM([]byte(os.Getenv(envRawClientCA)))
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		MinVersion:   tls.VersionTLS13,
	}
	register := func(s *grpc.Server) {
		pluginpb.RegisterStoreServer(s, &rawStore{value: bytes.Repeat([]byte{'v'}, PayloadSize)})
		pluginpb.RegisterBrokerServer(s, rawBroker{})
	}
	for _, l := range []struct {
		env  string
		opts []grpc.ServerOption
	}{
		{envRawSocket, nil},
		{envRawTLSSocket, []grpc.ServerOption{grpc.Creds(credentials.NewTLS(tlsConfig))}},
	} {
		ln, err := net.Listen("unix", os.Getenv(l.env))
		if err != nil {
			return err
		}
		s := grpc.NewServer(l.opts...)
		register(s)
		go s.Serve(ln)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// RawGRPC is a raw gRPC server in a child process and connections to it.
type RawGRPC struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dir   string
	plain *grpc.ClientConn
	tls   *grpc.ClientConn
}

// StartRawGRPC starts the raw gRPC child and connects to it, with and
// without mutual TLS.
func StartRawGRPC() (*RawGRPC, error) {
	dir, err := os.MkdirTemp("", "pluginbench")
	if err != nil {
		return nil, err
	}
	serverCert, serverKey, err := selfSigned(x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := selfSigned(x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	r := &RawGRPC{dir: dir}
	plainPath, tlsPath := filepath.Join(dir, "plain"), filepath.Join(dir, "tls")
	r.cmd = exec.Command(os.Args[0])
	r.cmd.Env = append(os.Environ(), envPluginChild+"=raw",
		envRawSocket+"="+plainPath, envRawTLSSocket+"="+tlsPath,
		envRawCert+"="+string(serverCert), envRawKey+"="+string(serverKey), envRawClientCA+"="+string(clientCert))
	r.cmd.Stderr = os.Stderr
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		r.Close()
		return nil, fmt.Errorf("raw gRPC child: %q, %v", line, err)
	}
	if r.plain, err = grpc.NewClient("unix://"+plainPath, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		r.Close()
		return nil, err
	}
	cert, err := tls.X509KeyPair(clientCert, clientKey)
	if err != nil {
		r.Close()
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCert)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	if r.tls, err = grpc.NewClient("unix://"+tlsPath, grpc.WithTransportCredentials(creds)); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *RawGRPC) conn(withTLS bool) *grpc.ClientConn {
	if withTLS {
		return r.tls
	}
	return r.plain
}

func rawName(withTLS bool) string {
	if withTLS {
		return "raw-grpc-mtls"
	}
	return "raw-grpc"
}

// Read is a System of the raw Store.Read.
func (r *RawGRPC) Read(withTLS bool) *System {
	c := pluginpb.NewStoreClient(r.conn(withTLS))
	return &System{Name: rawName(withTLS), Call: func(ctx context.Context) error {
		_, err := c.Read(ctx, &pluginpb.ReadRequest{Key: benchKey})
		return err
	}, Close: func() {}}
}

// Publish is a System of the raw Broker.Publish.
func (r *RawGRPC) Publish(withTLS bool) *System {
	c := pluginpb.NewBrokerClient(r.conn(withTLS))
	body := bytes.Repeat([]byte{'x'}, PayloadSize)
	return &System{Name: rawName(withTLS), Call: func(ctx context.Context) error {
		_, err := c.Publish(ctx, &pluginpb.PublishRequest{Topic: "bench", Message: &pluginpb.Message{Body: body}})
		return err
	}, Close: func() {}}
}

// Stream measures raw client-streaming publish for d: messages a second.
func (r *RawGRPC) Stream(d time.Duration, withTLS bool) (float64, error) {
	return rate(d, func(more func() bool) (int, error) { return r.stream(withTLS, more) })
}

// StreamN publishes n messages over one raw stream.
func (r *RawGRPC) StreamN(n int, withTLS bool) error {
	_, err := r.stream(withTLS, count(n))
	return err
}

func (r *RawGRPC) stream(withTLS bool, more func() bool) (int, error) {
	c := pluginpb.NewBrokerClient(r.conn(withTLS))
	stream, err := c.PublishStream(context.Background())
	if err != nil {
		return 0, err
	}
	req := &pluginpb.PublishRequest{Topic: "bench", Message: &pluginpb.Message{Body: bytes.Repeat([]byte{'x'}, PayloadSize)}}
	var n uint64
	for more() {
		if err := stream.Send(req); err != nil {
			return 0, err
		}
		n++
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, err
	}
	if resp.Published != n {
		return 0, fmt.Errorf("raw stream: %d of %d messages", resp.Published, n)
	}
	return int(n), nil
}

// rate runs send, which sends messages while more says so, for about d,
// and returns messages a second, including the wait for the last one.
func rate(d time.Duration, send func(more func() bool) (int, error)) (float64, error) {
	start := time.Now()
	deadline := start.Add(d)
	i := 0
	n, err := send(func() bool {
		i++
		return i%64 != 0 || time.Now().Before(deadline)
	})
	if err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// count returns a more function of n messages.
func count(n int) func() bool {
	return func() bool {
		n--
		return n >= 0
	}
}

// Close stops the child.
func (r *RawGRPC) Close() {
	if r.plain != nil {
		r.plain.Close()
	}
	if r.tls != nil {
		r.tls.Close()
	}
	r.stdin.Close()
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(r.dir)
}

// selfSigned makes a certificate and key as the bridge does: P-256,
// self-signed, for localhost.
func selfSigned(usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ------------------------------------------------------------ the bridge

// selfChecksum returns the SHA-256 of this program's binary.
func selfChecksum() ([]byte, error) { return fileSHA256(os.Args[0]) }

// openPlugin starts this binary as the plugin child serves, verified
// against sum.
func openPlugin(ctx context.Context, kind plugin.Kind, child string, sum []byte) (*plugin.Client, error) {
	os.Setenv(envPluginChild, child)
	defer os.Unsetenv(envPluginChild)
	return plugin.Open(ctx, os.Args[0], kind,
		plugin.WithName(string(kind)+"/bench"),
		plugin.WithChecksum(sum),
		plugin.WithLogger(slog.New(slog.DiscardHandler)))
}

// Plugins are a store plugin and a broker plugin, started from this binary.
type Plugins struct {
	store  *plugin.Client
	broker *plugin.Client
}

// StartPlugins starts the store and broker plugins.
func StartPlugins() (*Plugins, error) {
	sum, err := selfChecksum()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	s, err := openPlugin(ctx, plugin.KindStore, "store", sum)
	if err != nil {
		return nil, err
	}
	b, err := openPlugin(ctx, plugin.KindBroker, "broker", sum)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &Plugins{store: s, broker: b}, nil
}

// Read is a System of Store.Read through the bridge.
func (p *Plugins) Read() *System {
	s := p.store.Store()
	return &System{Name: "plugin", Call: func(ctx context.Context) error {
		_, err := s.Read(ctx, benchKey)
		return err
	}, Close: func() {}}
}

// Publish is a System of Broker.Publish through the bridge.
func (p *Plugins) Publish() *System {
	b := p.broker.Broker()
	msg := &broker.Message{Body: bytes.Repeat([]byte{'x'}, PayloadSize)}
	return &System{Name: "plugin", Call: func(ctx context.Context) error {
		return b.Publish(ctx, "bench", msg)
	}, Close: func() {}}
}

// Stream measures streaming publish through the bridge for d: messages a
// second.
func (p *Plugins) Stream(d time.Duration) (float64, error) {
	return rate(d, p.stream)
}

// StreamN publishes n messages through one Publisher.
func (p *Plugins) StreamN(n int) error {
	_, err := p.stream(count(n))
	return err
}

func (p *Plugins) stream(more func() bool) (int, error) {
	pub, err := p.broker.Broker().NewPublisher(context.Background())
	if err != nil {
		return 0, err
	}
	msg := &broker.Message{Body: bytes.Repeat([]byte{'x'}, PayloadSize)}
	n := 0
	for more() {
		if err := pub.Publish("bench", msg); err != nil {
			return 0, err
		}
		n++
	}
	return n, pub.Close()
}

// Close stops the plugins.
func (p *Plugins) Close() {
	p.store.Close()
	p.broker.Close()
}

// ------------------------------------------------------------ in process

// InProcessRead is a System of Read on the memory store, in process.
func InProcessRead() (*System, error) {
	s := storememory.New()
	if err := s.Write(context.Background(), &store.Record{Key: benchKey, Value: bytes.Repeat([]byte{'v'}, PayloadSize)}); err != nil {
		return nil, err
	}
	return &System{Name: "in-process", Call: func(ctx context.Context) error {
		_, err := s.Read(ctx, benchKey)
		return err
	}, Close: func() { s.Close() }}, nil
}

// InProcessPublish is a System of Publish on the memory broker, in
// process.
func InProcessPublish() *System {
	b := brokermemory.New()
	msg := &broker.Message{Body: bytes.Repeat([]byte{'x'}, PayloadSize)}
	return &System{Name: "in-process", Call: func(ctx context.Context) error {
		return b.Publish(ctx, "bench", msg)
	}, Close: func() { b.Close(context.Background()) }}
}

// ------------------------------------------------------------- start-up

// Startup is the start-up of a plugin.
type Startup struct {
	// Median and Min are the times from Open to the first successful
	// call, the binary verified as a service verifies a plugin that
	// micro-new installed: with its BLAKE3 digest (plugin.Pin).
	Median, Min time.Duration
	// SHA256 is the median with the binary's SHA-256 verified instead
	// (a lock written before BLAKE3 digests, or plugin.WithChecksum).
	SHA256 time.Duration
	// Unverified is the median without checksum verification.
	Unverified time.Duration
	// BinarySize is the size of the plugin binary, which is hashed.
	BinarySize int64
}

// StartOnce starts the store plugin, verified, makes one Read and closes
// it.
func StartOnce() error {
	sum, err := selfChecksum()
	if err != nil {
		return err
	}
	ctx := context.Background()
	c, err := openPlugin(ctx, plugin.KindStore, "store", sum)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Store().Read(ctx, benchKey)
	return err
}

// MeasureStartup starts the store plugin n times with each kind of pin
// (BLAKE3, SHA-256, none), in turn, each time until its first successful
// Read.
func MeasureStartup(n int) (Startup, error) {
	sum, err := selfChecksum()
	if err != nil {
		return Startup{}, err
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		return Startup{}, err
	}
	b3 := blake3.Sum256(self)
	once := func(pin *plugin.Pin) (time.Duration, error) {
		ctx := context.Background()
		start := time.Now()
		os.Setenv(envPluginChild, "store")
		defer os.Unsetenv(envPluginChild)
		opts := []plugin.Option{plugin.WithName("store/bench"), plugin.WithLogger(slog.New(slog.DiscardHandler))}
		if pin != nil {
			opts = append(opts, plugin.WithPin(*pin))
		}
		c, err := plugin.Open(ctx, os.Args[0], plugin.KindStore, opts...)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if _, err := c.Store().Read(ctx, benchKey); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	pins := []*plugin.Pin{{SHA256: sum, BLAKE3: b3[:]}, {SHA256: sum}, nil}
	times := make([][]time.Duration, len(pins))
	for range n {
		for i, pin := range pins {
			d, err := once(pin)
			if err != nil {
				return Startup{}, err
			}
			times[i] = append(times[i], d)
		}
	}
	if n <= 0 {
		return Startup{}, errors.New("no start-up measured")
	}
	for _, t := range times {
		slices.Sort(t)
	}
	return Startup{
		Median:     times[0][n/2],
		Min:        times[0][0],
		SHA256:     times[1][n/2],
		Unverified: times[2][n/2],
		BinarySize: int64(len(self)),
	}, nil
}
