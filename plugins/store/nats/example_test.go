package nats_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/seedmicro/micro/core/store"
	micronats "github.com/seedmicro/micro/plugins/store/nats"
)

func Example() {
	ctx := context.Background()
	s, err := micronats.New(ctx, micronats.Config{
		Connection: micronats.Connection{URL: os.Getenv("MICRO_TEST_NATS")}, // empty: nats://127.0.0.1:4222
		KV:         micronats.KV{Bucket: exampleBucket},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	for _, rec := range []*store.Record{
		{Key: "users/1/name", Value: []byte("Ada")},
		{Key: "users/2/name", Value: []byte("Grace")},
		{Key: "sessions/abc", Value: []byte("user 1"), TTL: time.Minute},
	} {
		if err := s.Write(ctx, rec); err != nil {
			fmt.Println(err)
			return
		}
	}
	keys, err := s.List(ctx, "users/")
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := s.Read(ctx, "sessions/abc")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(keys, string(rec.Value), rec.TTL > 59*time.Second)
	// Output: [users/1/name users/2/name] user 1 true
}
