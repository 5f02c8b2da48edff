// Package bench measures micro against the baselines named in its issues:
// grpc-go and net/rpc for unary calls. Run it with `make bench`, or
// `go run ./bench/cmd/rpcbench`, which prints a table and one
// `ratio <name> <value>` line per figure.
package bench

import (
	"context"
	"net"
	"net/rpc"
	"slices"
	"sync"
	"time"

	benchpb "github.com/seedmicro/micro/bench/proto"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// System is one RPC stack under test: Call makes one unary call.
type System struct {
	Name  string
	Call  func(ctx context.Context) error
	Close func()
}

// Echo is the micro handler.
type Echo struct{}

// Echo returns the payload.
func (Echo) Echo(ctx context.Context, req *benchpb.EchoRequest, rsp *benchpb.EchoResponse) error {
	rsp.Payload = req.Payload
	return nil
}

// StartMicro starts a micro server and a client that reaches it through the
// memory registry and the default selector: the whole call path.
func StartMicro(payload []byte) (*System, error) {
	reg := memory.New()
	srv := server.New(server.WithName("bench.echo"), server.WithRegistry(reg), server.WithLogger(discard()))
	if err := srv.Handle(Echo{}); err != nil {
		return nil, err
	}
	if err := srv.Start(context.Background()); err != nil {
		return nil, err
	}
	cl := client.New(client.WithRegistry(reg))
	req := &benchpb.EchoRequest{Payload: payload}
	return &System{
		Name: "micro",
		Call: func(ctx context.Context) error {
			var rsp benchpb.EchoResponse
			return cl.Call(ctx, "bench.echo", "Echo.Echo", req, &rsp)
		},
		Close: func() {
			cl.Close()
			srv.Stop(context.Background())
			reg.Close()
		},
	}, nil
}

type grpcEcho struct {
	benchpb.UnimplementedEchoServer
}

func (grpcEcho) Echo(ctx context.Context, req *benchpb.EchoRequest) (*benchpb.EchoResponse, error) {
	return &benchpb.EchoResponse{Payload: req.Payload}, nil
}

// StartGRPC starts a grpc-go server and client on loopback with default
// settings (one HTTP/2 connection, as grpc-go uses by default).
func StartGRPC(payload []byte) (*System, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer()
	benchpb.RegisterEchoServer(gs, grpcEcho{})
	go gs.Serve(l)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		return nil, err
	}
	c := benchpb.NewEchoClient(cc)
	req := &benchpb.EchoRequest{Payload: payload}
	return &System{
		Name: "grpc",
		Call: func(ctx context.Context) error {
			_, err := c.Echo(ctx, req)
			return err
		},
		Close: func() { cc.Close(); gs.Stop() },
	}, nil
}

// NetRPCArgs is the net/rpc request and reply (gob-encoded, net/rpc's default).
type NetRPCArgs struct{ Payload []byte }

// NetEcho is the net/rpc service.
type NetEcho struct{}

// Echo returns the payload.
func (NetEcho) Echo(args *NetRPCArgs, reply *NetRPCArgs) error {
	reply.Payload = args.Payload
	return nil
}

// StartNetRPC starts a net/rpc server and client on loopback (one
// connection, gob encoding: the standard library's defaults).
func StartNetRPC(payload []byte) (*System, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rs := rpc.NewServer()
	if err := rs.Register(NetEcho{}); err != nil {
		return nil, err
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			conns.Add(1)
			go func() { defer conns.Done(); rs.ServeConn(c) }()
		}
	}()
	c, err := rpc.Dial("tcp", l.Addr().String())
	if err != nil {
		l.Close()
		return nil, err
	}
	args := &NetRPCArgs{Payload: payload}
	return &System{
		Name: "netrpc",
		Call: func(ctx context.Context) error {
			var reply NetRPCArgs
			return c.Call("NetEcho.Echo", args, &reply)
		},
		Close: func() {
			c.Close()
			l.Close()
			mu.Lock()
			for _, c := range open {
				c.Close()
			}
			mu.Unlock()
			conns.Wait()
		},
	}, nil
}

// Result is one measurement.
type Result struct {
	Calls    int
	Errors   int
	Elapsed  time.Duration
	QPS      float64
	P50, P99 time.Duration
}

// Measure runs Call from concurrency goroutines for d after a warm-up and
// returns throughput and latency percentiles.
func Measure(s *System, concurrency int, warmup, d time.Duration) Result {
	run := func(d time.Duration, record bool) ([][]time.Duration, int, time.Duration) {
		lat := make([][]time.Duration, concurrency)
		errs := make([]int, concurrency)
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(d)
		for g := 0; g < concurrency; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				buf := make([]time.Duration, 0, 1<<16)
				for {
					t0 := time.Now()
					if t0.After(deadline) {
						break
					}
					if err := s.Call(ctx); err != nil {
						errs[g]++
					}
					if record {
						buf = append(buf, time.Since(t0))
					}
				}
				lat[g] = buf
			}()
		}
		wg.Wait()
		n := 0
		for _, e := range errs {
			n += e
		}
		return lat, n, time.Since(start)
	}
	run(warmup, false)
	lat, nerr, elapsed := run(d, true)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := Result{Calls: len(all), Errors: nerr, Elapsed: elapsed}
	if len(all) > 0 {
		r.QPS = float64(len(all)) / elapsed.Seconds()
		r.P50 = all[len(all)*50/100]
		r.P99 = all[len(all)*99/100]
	}
	return r
}
