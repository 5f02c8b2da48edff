package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// EnvCatalog is the environment variable that lists more catalogs, as paths or
// URLs separated by commas (paths may also be separated by the OS list
// separator, ':' on Unix).
const EnvCatalog = "MICRO_CATALOG"

// MaxSize is the largest catalog document Load reads.
const MaxSize = 16 << 20

type loadConfig struct {
	client *http.Client
	total  time.Duration
}

// LoadOption configures Load.
type LoadOption interface{ apply(*loadConfig) }

type loadOptionFunc func(*loadConfig)

func (f loadOptionFunc) apply(c *loadConfig) { f(c) }

// WithHTTPClient sets the client that fetches http(s) catalogs.
func WithHTTPClient(c *http.Client) LoadOption {
	return loadOptionFunc(func(cfg *loadConfig) { cfg.client = c })
}

// WithTimeout bounds the whole fetch of an http(s) catalog, from the
// connection to the last byte (default 30s; 0 or less: no bound).
func WithTimeout(d time.Duration) LoadOption {
	return loadOptionFunc(func(cfg *loadConfig) { cfg.total = d })
}

// Load reads a catalog from a path, a file:// URL or an http(s) URL.
func Load(ctx context.Context, ref string, opts ...LoadOption) (*Catalog, error) {
	cfg := loadConfig{client: http.DefaultClient, total: 30 * time.Second}
	for _, o := range opts {
		o.apply(&cfg)
	}
	fctx := ctx
	if cfg.total > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, cfg.total)
		defer cancel()
	}
	data, origin, err := fetch(fctx, ref, cfg.client)
	if err != nil {
		var ne net.Error
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
			return nil, fmt.Errorf("catalog %s: no complete answer within %v (%v): check the URL and that the server is up; on a slow link set MICRO_HTTP_TIMEOUT (e.g. 60s)", ref, cfg.total, err)
		}
		return nil, fmt.Errorf("catalog %s: %w", ref, err)
	}
	return Parse(data, origin)
}

func fetch(ctx context.Context, ref string, client *http.Client) ([]byte, string, error) {
	u, err := url.Parse(ref)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
		if err != nil {
			return nil, ref, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, ref, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, ref, fmt.Errorf("GET: %s", resp.Status)
		}
		data, err := readCapped(resp.Body)
		return data, ref, err
	}
	path := ref
	if err == nil && u.Scheme == "file" {
		path = u.Path
	} else if err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return nil, ref, fmt.Errorf("scheme %q: want a path, file://, http:// or https://", u.Scheme)
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil, ref, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, path, err
	}
	defer f.Close()
	data, err := readCapped(f)
	return data, path, err
}

func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, errors.New("larger than 16 MiB")
	}
	return data, nil
}

// SplitList splits the value of MICRO_CATALOG: entries are separated by commas;
// an entry that is not a URL may hold several paths separated by the OS list
// separator.
func SplitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "://") {
			out = append(out, part)
			continue
		}
		for _, p := range filepath.SplitList(part) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// LoadSet returns the set of the built-in catalog followed by the catalogs at refs.
func LoadSet(ctx context.Context, refs []string, opts ...LoadOption) (*Set, error) {
	cats := []*Catalog{Builtin()}
	for _, r := range refs {
		c, err := Load(ctx, r, opts...)
		if err != nil {
			return nil, err
		}
		cats = append(cats, c)
	}
	return NewSet(cats...)
}
