package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/broker/brokertest"
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
	// The round trip is that of the memory broker's example.
	msg, err := brokertest.RoundTrip(ctx, b, topic, &broker.Message{
		ID:     "greeting-1",
		Header: map[string]string{"Content-Type": "text/plain"},
		Body:   []byte("hello"),
	}, broker.Queue("greeters"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msg.ID, string(msg.Body), msg.Header["Content-Type"], "delivery", msg.Header[broker.DeliveryHeader])

	// The queue group outlives its members; delete the stream to remove it.
	b.Client().Del(ctx, redis.DefaultPrefix+topic)
	// Output: greeting-1 hello text/plain delivery 1
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
