package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/plugins/broker/redis"
)

// redisEnv runs under a key prefix of its own, "microbench:<id>:", with the
// broker's default settings otherwise (MAXLEN, prefetch).
type redisEnv struct {
	url    string
	prefix string
	log    *slog.Logger
	admin  *goredis.Client
}

// NewRedis connects to the Redis server at url.
func NewRedis(ctx context.Context, rawURL, id string, log *slog.Logger) (BrokerEnv, error) {
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	opt.DialTimeout = 3 * time.Second
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: cannot reach the server at %s: %w", redactURL(rawURL), err)
	}
	return &redisEnv{url: rawURL, prefix: "microbench:" + id + ":", log: log, admin: c}, nil
}

func (e *redisEnv) Name() string { return "redis" }

func (e *redisEnv) config() redis.Config {
	return redis.Config{Connection: redis.Connection{URL: e.url}, Prefix: e.prefix}
}

func (e *redisEnv) Settings() []byte { return settingsJSON(e.config()) }

func (e *redisEnv) Micro(ctx context.Context) (broker.Broker, error) {
	return redis.New(ctx, e.config(), redis.WithLogger(e.log))
}

// Prepare has nothing to do: XADD creates the stream, which keeps every
// entry for the group that joins later.
func (e *redisEnv) Prepare(ctx context.Context, topic, group string) error { return nil }

func (e *redisEnv) Drop(ctx context.Context, topic, group string) error {
	s := e.prefix + topic
	return e.admin.Del(ctx, s, s+redis.DeadLetterSuffix).Err()
}

// Close deletes every key under the run's prefix.
func (e *redisEnv) Close(ctx context.Context) error {
	var all []error
	iter := e.admin.Scan(ctx, 0, e.prefix+"*", 100).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	all = append(all, iter.Err())
	if len(keys) > 0 {
		all = append(all, e.admin.Del(ctx, keys...).Err())
	}
	all = append(all, e.admin.Close())
	if err := errors.Join(all...); err != nil {
		return fmt.Errorf("redis: clean up: %w", err)
	}
	return nil
}

// Raw is what a program using go-redis directly does for the same work: one
// client (a pool of connections); XADD of the fields the broker writes (a
// Content-Type header field and the body) with the broker's MAXLEN ~ cap;
// one consumer of a consumer group created at "$", reading with
// XREADGROUP COUNT <the broker's prefetch>, handling each entry, then
// acknowledging the batch with XACK.
func (e *redisEnv) Raw(ctx context.Context, body []byte) (*BrokerSystem, error) {
	opt, err := goredis.ParseURL(e.url)
	if err != nil {
		return nil, err
	}
	opt.ClientName = "brokerbench-raw"
	c := goredis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	return &BrokerSystem{
		Name: "raw",
		Publish: func(ctx context.Context, topic string) error {
			return c.XAdd(ctx, &goredis.XAddArgs{
				Stream: e.prefix + topic, ID: "*", MaxLen: redis.DefaultMaxLen, Approx: true,
				Values: []any{redis.HeaderFieldPrefix + "Content-Type", ContentType, redis.FieldBody, body},
			}).Err()
		},
		Subscribe: func(ctx context.Context, topic, group string, got func()) (func(context.Context) error, error) {
			stream := e.prefix + topic
			err := c.XGroupCreateMkStream(ctx, stream, group, "$").Err()
			if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
				return nil, err
			}
			rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			done := make(chan struct{})
			go func() {
				defer close(done)
				for rctx.Err() == nil {
					res, err := c.XReadGroup(rctx, &goredis.XReadGroupArgs{
						Group: group, Consumer: "raw", Streams: []string{stream, ">"},
						Count: redis.DefaultPrefetch, Block: 200 * time.Millisecond,
					}).Result()
					if err != nil {
						if !errors.Is(err, goredis.Nil) && rctx.Err() == nil {
							e.log.Warn("brokerbench: raw redis XREADGROUP", "err", err)
							time.Sleep(50 * time.Millisecond)
						}
						continue
					}
					var ids []string
					for _, st := range res {
						for _, m := range st.Messages {
							// What a handler gets: the body and the header.
							_ = []byte(m.Values[redis.FieldBody].(string))
							_ = m.Values[redis.HeaderFieldPrefix+"Content-Type"]
							got()
							ids = append(ids, m.ID)
						}
					}
					if len(ids) > 0 {
						if err := c.XAck(context.WithoutCancel(rctx), stream, group, ids...).Err(); err != nil {
							e.log.Warn("brokerbench: raw redis XACK", "err", err)
						}
					}
				}
			}()
			return func(context.Context) error {
				cancel()
				<-done
				return nil
			}, nil
		},
		Close: func(context.Context) error { return c.Close() },
	}, nil
}
