package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

func Example() {
	ctx := context.Background()
	// The zero Config connects to redis://127.0.0.1:6379/0.
	b, err := redis.New(ctx, redis.Config{Connection: redis.Connection{URL: os.Getenv("MICRO_TEST_REDIS")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(ctx)

	topic := "example.greetings." + randomSuffix()
	got := make(chan *broker.Message, 1)
	sub, err := b.Subscribe(ctx, topic, func(_ context.Context, msg *broker.Message) error {
		got <- msg
		return nil // acknowledge
	}, broker.Queue("greeters"))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = b.Publish(ctx, topic, &broker.Message{
		ID:     "greeting-1",
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := <-got
	fmt.Println(msg.ID, string(msg.Body), msg.Header["Content-Type"], "delivery", msg.Header[broker.DeliveryHeader])

	// The queue group outlives its members; delete the stream to remove it.
	sub.Unsubscribe(ctx)
	b.Client().Del(ctx, redis.DefaultPrefix+topic)
	// Output: greeting-1 hello text/plain delivery 1
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
