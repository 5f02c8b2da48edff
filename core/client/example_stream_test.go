package client_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/seedmicro/micro/core/client"
	"github.com/seedmicro/micro/core/registry/memory"
	"github.com/seedmicro/micro/core/server"
)

type Countdown struct{}

type CountRequest struct {
	From int `json:"from"`
}

type Count struct {
	N int `json:"n"`
}

// Down is a server stream: one request, then one message per number.
func (Countdown) Down(ctx context.Context, req *CountRequest, s server.ServerStream[Count]) error {
	for n := req.From; n > 0; n-- {
		if err := s.Send(&Count{N: n}); err != nil {
			return err
		}
	}
	return nil
}

func ExampleClient_Stream() {
	reg := memory.New()
	defer reg.Close()
	srv := server.New(server.WithName("countdown"), server.WithRegistry(reg), server.WithLogger(quiet()))
	srv.Handle(Countdown{})
	if err := srv.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer srv.Stop(context.Background())
	c := client.New(client.WithRegistry(reg))
	defer c.Close()

	s, err := c.Stream(context.Background(), "countdown", "Countdown.Down")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.Send(&CountRequest{From: 3})
	s.CloseSend()
	for {
		var m Count
		err := s.Recv(&m)
		if err == io.EOF {
			fmt.Println("done")
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.N)
	}
	// Output:
	// 3
	// 2
	// 1
	// done
}
