package bench

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	benchpb "github.com/seedmicro/micro/bench/proto"
	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// StreamSystem is one stack under the stream benchmarks.
type StreamSystem struct {
	Name string
	// Feed opens a server stream of size-byte messages and returns a
	// function that receives the next one.
	Feed func(ctx context.Context, size int) (recv func() error, err error)
	// Echo opens a bidirectional stream and returns a function that sends
	// one message and receives its echo.
	Echo  func(ctx context.Context, payload []byte) (roundTrip func() error, err error)
	Close func()
}

// Streams is the micro handler of the stream benchmarks.
type Streams struct{}

// Feed sends req.Count chunks of req.Size bytes.
func (Streams) Feed(ctx context.Context, req *benchpb.FeedRequest, s server.ServerStream[benchpb.Chunk]) error {
	return feedChunks(req, s.Send)
}

// Echo sends back every chunk.
func (Streams) Echo(ctx context.Context, s server.BidiStream[benchpb.Chunk, benchpb.Chunk]) error {
	return echoChunks(s.Recv, s.Send)
}

// feedChunks is the handler of the server stream, on either stack: it sends
// req.Count chunks of req.Size bytes, the same message each time.
func feedChunks(req *benchpb.FeedRequest, send func(*benchpb.Chunk) error) error {
	msg := &benchpb.Chunk{Payload: make([]byte, req.Size)}
	for i := int64(0); i < req.Count; i++ {
		if err := send(msg); err != nil {
			return err
		}
	}
	return nil
}

// echoChunks is the handler of the bidirectional stream, on either stack:
// it sends back every chunk until the client half-closes.
func echoChunks(recv func() (*benchpb.Chunk, error), send func(*benchpb.Chunk) error) error {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := send(m); err != nil {
			return err
		}
	}
}

// StartMicroStreams starts a micro server and client reaching it through
// the memory registry, as StartMicro does for unary calls.
func StartMicroStreams() (*StreamSystem, error) {
	reg := memory.New()
	srv := server.New(server.WithName("bench.streams"), server.WithRegistry(reg), server.WithLogger(discard()))
	if err := srv.Handle(Streams{}); err != nil {
		return nil, err
	}
	if err := srv.Start(context.Background()); err != nil {
		return nil, err
	}
	cl := client.New(client.WithRegistry(reg))
	return &StreamSystem{
		Name: "micro",
		Feed: func(ctx context.Context, size int) (func() error, error) {
			s, err := cl.Stream(ctx, "bench.streams", "Streams.Feed")
			if err != nil {
				return nil, err
			}
			if err := s.Send(&benchpb.FeedRequest{Count: math.MaxInt64, Size: int32(size)}); err != nil {
				return nil, err
			}
			s.CloseSend()
			context.AfterFunc(ctx, func() { s.Close() })
			var m benchpb.Chunk
			return func() error { return s.Recv(&m) }, nil
		},
		Echo: func(ctx context.Context, payload []byte) (func() error, error) {
			s, err := cl.Stream(ctx, "bench.streams", "Streams.Echo")
			if err != nil {
				return nil, err
			}
			context.AfterFunc(ctx, func() { s.Close() })
			req := &benchpb.Chunk{Payload: payload}
			var m benchpb.Chunk
			return func() error {
				if err := s.Send(req); err != nil {
					return err
				}
				return s.Recv(&m)
			}, nil
		},
		Close: func() {
			cl.Close()
			srv.Stop(context.Background())
			reg.Close()
		},
	}, nil
}

type grpcStreams struct {
	benchpb.UnimplementedStreamsServer
}

func (grpcStreams) Feed(req *benchpb.FeedRequest, s grpc.ServerStreamingServer[benchpb.Chunk]) error {
	return feedChunks(req, s.Send)
}

func (grpcStreams) Echo(s grpc.BidiStreamingServer[benchpb.Chunk, benchpb.Chunk]) error {
	return echoChunks(s.Recv, s.Send)
}

// StartGRPCStreams starts a grpc-go server and client on loopback with
// default settings.
func StartGRPCStreams() (*StreamSystem, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer()
	benchpb.RegisterStreamsServer(gs, grpcStreams{})
	go gs.Serve(l)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		return nil, err
	}
	c := benchpb.NewStreamsClient(cc)
	return &StreamSystem{
		Name: "grpc",
		Feed: func(ctx context.Context, size int) (func() error, error) {
			s, err := c.Feed(ctx, &benchpb.FeedRequest{Count: math.MaxInt64, Size: int32(size)})
			if err != nil {
				return nil, err
			}
			// One message received into again and again, as micro's side
			// does.
			var m benchpb.Chunk
			return func() error { return s.RecvMsg(&m) }, nil
		},
		Echo: func(ctx context.Context, payload []byte) (func() error, error) {
			s, err := c.Echo(ctx)
			if err != nil {
				return nil, err
			}
			req := &benchpb.Chunk{Payload: payload}
			var m benchpb.Chunk
			return func() error {
				if err := s.Send(req); err != nil {
					return err
				}
				return s.RecvMsg(&m)
			}, nil
		},
		Close: func() { cc.Close(); gs.Stop() },
	}, nil
}

// StreamResult is one stream measurement: messages (or round trips) per
// second over all streams.
type StreamResult struct {
	Messages int64
	Elapsed  time.Duration
	Rate     float64
	Errors   int64
}

// MeasureFeed receives a server stream of size-byte messages for d after a
// warm-up, on one stream.
func MeasureFeed(s *StreamSystem, size int, warmup, d time.Duration) (StreamResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recv, err := s.Feed(ctx, size)
	if err != nil {
		return StreamResult{}, err
	}
	until := time.Now().Add(warmup)
	for time.Now().Before(until) {
		for i := 0; i < 256; i++ {
			if err := recv(); err != nil {
				return StreamResult{}, err
			}
		}
	}
	var r StreamResult
	start := time.Now()
	until = start.Add(d)
	for time.Now().Before(until) {
		for i := 0; i < 256; i++ {
			if err := recv(); err != nil {
				return r, err
			}
			r.Messages++
		}
	}
	r.Elapsed = time.Since(start)
	r.Rate = float64(r.Messages) / r.Elapsed.Seconds()
	return r, nil
}

// MeasureEcho runs concurrency bidirectional streams, each sending a
// message and waiting for its echo in a loop, for d after a warm-up.
func MeasureEcho(s *StreamSystem, concurrency int, payload []byte, warmup, d time.Duration) (StreamResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trips := make([]func() error, concurrency)
	for i := range trips {
		rt, err := s.Echo(ctx, payload)
		if err != nil {
			return StreamResult{}, err
		}
		trips[i] = rt
	}
	var total, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(warmup)
	until := start.Add(d)
	for _, rt := range trips {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for {
				now := time.Now()
				if now.After(until) {
					break
				}
				if err := rt(); err != nil {
					errs.Add(1)
					return
				}
				if now.After(start) {
					n++
				}
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	r := StreamResult{Messages: total.Load(), Elapsed: d, Errors: errs.Load()}
	r.Rate = float64(r.Messages) / d.Seconds()
	if r.Errors > 0 {
		return r, errors.New("bench: some echo round trips failed")
	}
	return r, nil
}
