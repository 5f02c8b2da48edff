package natskv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BucketConfig says how to create a key-value bucket that does not exist yet.
type BucketConfig struct {
	Bucket      string
	Description string
	// Storage is "memory" or anything else for file storage.
	Storage  string
	Replicas int
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
func (c BucketConfig) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("nats: invalid Config.%s: %s", field, fmt.Sprintf(format, args...))
	}
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
