package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seedmicro/micro/core/store"
	"github.com/seedmicro/micro/core/store/memory"
)

func Example() {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()

	for _, rec := range []*store.Record{
		{Key: "users/bob", Value: []byte(`{"name":"Bob"}`)},
		{Key: "users/alice", Value: []byte(`{"name":"Alice"}`)},
		{Key: "sessions/42", Value: []byte("alice"), TTL: 30 * time.Minute},
	} {
		if err := s.Write(ctx, rec); err != nil {
			fmt.Println(err)
			return
		}
	}

	rec, err := s.Read(ctx, "users/alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s\n", rec.Key, rec.Value)

	keys, err := s.List(ctx, "users/")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(keys)

	session, err := s.Read(ctx, "sessions/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("session expires within 30m:", session.TTL > 0 && session.TTL <= 30*time.Minute)

	_, err = s.Read(ctx, "users/carol")
	fmt.Println(errors.Is(err, store.ErrNotFound))
	// Output:
	// users/alice {"name":"Alice"}
	// [users/alice users/bob]
	// session expires within 30m: true
	// true
}
