package redis_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/plugins/store/redis"
)

func Example() {
	ctx := context.Background()
	// The zero Config connects to redis://127.0.0.1:6379/0.
	s, err := redis.New(ctx, redis.Config{Connection: redis.Connection{URL: os.Getenv("MICRO_TEST_REDIS")}, Prefix: "micro:example:store:"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	s.Write(ctx, &store.Record{Key: "sessions/42", Value: []byte("ada"), TTL: time.Hour})
	s.Write(ctx, &store.Record{Key: "sessions/43", Value: []byte("grace")})
	defer s.Delete(ctx, "sessions/42")
	defer s.Delete(ctx, "sessions/43")

	rec, err := s.Read(ctx, "sessions/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(rec.Value), rec.TTL > 59*time.Minute)
	keys, _ := s.List(ctx, "sessions/")
	fmt.Println(keys)
	// Output:
	// ada true
	// [sessions/42 sessions/43]
}
