package natskv

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/seedmicro/micro/plugins/internal/natsconn"
	"github.com/seedmicro/micro/plugins/internal/settings"
)

// Settings are the bucket fields of the Config of a NATS plugin that keeps
// its data in a key-value bucket, which embeds them: their JSON names are
// the plugin's settings.
type Settings struct {
	// Bucket is the key-value bucket; New creates it when it does not
	// exist (history 1). Default: the plugin's DefaultBucket.
	Bucket string `json:"bucket,omitempty"`
	// Storage is "file" (default) or "memory", for a bucket New creates.
	Storage string `json:"storage,omitempty"`
	// Replicas is the number of replicas of a bucket New creates, in a
	// cluster. Default 1.
	Replicas int `json:"replicas,omitempty"`
}

// WithDefaults returns s with its zero fields set to their defaults,
// bucket being the plugin's default bucket.
func (s Settings) WithDefaults(bucket string) Settings {
	settings.SetDefault(&s.Bucket, bucket)
	settings.SetDefault(&s.Storage, "file")
	settings.SetDefault(&s.Replicas, 1)
	return s
}

// BucketConfig says how to create a key-value bucket that does not exist yet.
type BucketConfig struct {
	Settings
	Description string
}

// OpenBucket opens the key-value bucket of cfg, creating it (with one value
// of history) when it does not exist, and returns it with the stream behind
// it. A bucket created by another process meanwhile is opened.
func OpenBucket(ctx context.Context, nc *nats.Conn, cfg BucketConfig) (jetstream.JetStream, jetstream.KeyValue, jetstream.Stream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, nil, err
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		storage := jetstream.FileStorage
		if cfg.Storage == "memory" {
			storage = jetstream.MemoryStorage
		}
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      cfg.Bucket,
			Description: cfg.Description,
			History:     1,
			Storage:     storage,
			Replicas:    cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket) // created meanwhile
		}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	stream, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if err != nil {
		return nil, nil, nil, err
	}
	return js, kv, stream, nil
}

// Validate reports the first invalid field of c, after defaults, named as a
// field of the plugin's Config (Bucket, Storage, Replicas).
func (c Settings) Validate() error {
	bad := natsconn.Invalid
	if !ValidBucket(c.Bucket) {
		return bad("Bucket", "%q; a bucket name holds only ASCII letters, digits, '-' and '_'", c.Bucket)
	}
	if c.Storage != "file" && c.Storage != "memory" {
		return bad("Storage", "%q; want \"file\" or \"memory\"", c.Storage)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return bad("Replicas", "%d; want 1 to 5", c.Replicas)
	}
	return nil
}
