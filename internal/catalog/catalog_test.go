package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seedmicro/micro/internal/catalog"
	"github.com/seedmicro/micro/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }

// The plugins of the plugins issue, plus the core's memory implementations
// served out-of-process.
var wantPlugins = []string{
	"broker/memory", "broker/nats", "broker/rabbitmq", "broker/redis",
	"registry/memory", "registry/nats", "registry/redis",
	"store/memory", "store/nats", "store/redis",
}

func TestBuiltinIsCurrent(t *testing.T) {
	root, err := os.ReadFile("../../catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, catalog.BuiltinJSON()) {
		t.Fatal("internal/catalog/builtin.json differs from catalog.json: run `go generate ./internal/catalog` and commit")
	}
}

func TestBuiltinIsValid(t *testing.T) {
	c := catalog.Builtin()
	if c.Name != catalog.BuiltinName {
		t.Errorf("name %q, want %q", c.Name, catalog.BuiltinName)
	}
	var names []string
	for _, p := range c.Plugins {
		names = append(names, p.Name)
		for _, v := range p.Versions {
			if v.Source == nil {
				t.Errorf("%s %s: no source", p.Name, v.Version)
				continue
			}
			kind, short, _ := strings.Cut(p.Name, "/")
			want := "github.com/seedmicro/micro/plugins/" + p.Name + "/cmd/micro-plugin-" + kind + "-" + short
			if v.Source.Package != want || v.Source.Module != "" {
				t.Errorf("%s: source %+v, want package %s", p.Name, v.Source, want)
			}
			if !slices.Contains(v.Protocols, 1) {
				t.Errorf("%s: protocols %v lack 1", p.Name, v.Protocols)
			}
			if short != "memory" && len(v.Infrastructure) == 0 {
				t.Errorf("%s: no infrastructure", p.Name)
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, wantPlugins) {
		t.Errorf("plugins %v, want %v", names, wantPlugins)
	}
	// Each call returns a catalog of its own.
	c.Plugins[0].Name = "changed"
	if catalog.Builtin().Plugins[0].Name == "changed" {
		t.Error("Builtin returns a shared catalog")
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		want    catalog.Ref
		wantErr string
	}{
		{in: "broker/rabbitmq", want: catalog.Ref{Name: "broker/rabbitmq"}},
		{in: "broker/rabbitmq@0.2.0", want: catalog.Ref{Name: "broker/rabbitmq", Version: "0.2.0"}},
		{in: "broker/rabbitmq@v0.2.0", want: catalog.Ref{Name: "broker/rabbitmq", Version: "0.2.0"}},
		{in: "acme:store/redis@1.0.0-rc.1", want: catalog.Ref{Catalog: "acme", Name: "store/redis", Version: "1.0.0-rc.1"}},
		{in: "rabbitmq", wantErr: "want [catalog:]<kind>/<name>"},
		{in: "queue/rabbitmq", wantErr: "kind one of broker, registry, store"},
		{in: "broker/rabbitmq@latest", wantErr: "not a semantic version"},
		{in: "Acme:broker/x", wantErr: "catalog name"},
		{in: "broker/Rabbit", wantErr: "want [catalog:]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := catalog.ParseRef(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.in != "broker/rabbitmq@v0.2.0" && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"0.0.1", "0.1.0", "0.9.0", "0.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "2.0.0"}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := catalog.CompareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("CompareVersions(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if catalog.CompareVersions("v1.2.3", "1.2.3+build.5") != 0 {
		t.Error("a leading v or build metadata changes the order")
	}
	for _, bad := range []string{"1", "1.2", "01.2.3", "1.2.3-", "1.2.3-a..b", "x.y.z", ""} {
		if catalog.ValidVersion(bad) {
			t.Errorf("ValidVersion(%q) = true", bad)
		}
	}
}

func TestLatest(t *testing.T) {
	p := catalog.Plugin{Versions: []catalog.Version{{Version: "1.0.0"}, {Version: "1.2.0-rc.1"}, {Version: "1.1.0"}}}
	if got := p.Latest().Version; got != "1.1.0" {
		t.Errorf("Latest = %s, want 1.1.0 (a pre-release is not the latest)", got)
	}
	if got := p.VersionList(); !slices.Equal(got, []string{"1.2.0-rc.1", "1.1.0", "1.0.0"}) {
		t.Errorf("VersionList = %v", got)
	}
	if v, ok := p.FindVersion("v1.0.0"); !ok || v.Version != "1.0.0" {
		t.Errorf("FindVersion(v1.0.0) = %v, %v", v, ok)
	}
	if _, ok := p.FindVersion("3.0.0"); ok {
		t.Error("FindVersion(3.0.0) found")
	}
}

const extraCatalog = `{
  "format": 1,
  "name": "acme",
  "plugins": [
    {"name": "broker/rabbitmq", "kind": "broker", "description": "Acme's RabbitMQ broker.",
     "versions": [{"version": "2.0.0", "protocols": [1], "source": {"module": "example.com/acme@v2.0.0", "package": "example.com/acme/cmd/micro-plugin-broker-rabbitmq"}}]},
    {"name": "store/acme", "kind": "store", "description": "Acme's store.",
     "versions": [{"version": "1.0.0", "protocols": [1],
       "artifacts": [{"os": "linux", "arch": "amd64", "url": "https://example.com/store.tar.gz", "sha256": "` + sum64 + `"}]}]}
  ]
}`

const sum64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSetQualifiedNames(t *testing.T) {
	acme, err := catalog.Parse([]byte(extraCatalog), "acme.json")
	if err != nil {
		t.Fatal(err)
	}
	set, err := catalog.NewSet(catalog.Builtin(), acme)
	if err != nil {
		t.Fatal(err)
	}

	_, err = set.Lookup(catalog.Ref{Name: "broker/rabbitmq"})
	var amb *catalog.AmbiguousError
	if !errors.As(err, &amb) {
		t.Fatalf("Lookup of a name in two catalogs: %v, want an AmbiguousError", err)
	}
	for _, want := range []string{"broker/rabbitmq", "builtin:broker/rabbitmq", "acme:broker/rabbitmq", "qualify"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	e, err := set.Lookup(catalog.Ref{Catalog: "acme", Name: "broker/rabbitmq"})
	if err != nil || e.Catalog.Name != "acme" || e.Plugin.Latest().Version != "2.0.0" {
		t.Fatalf("qualified Lookup: %+v, %v", e, err)
	}
	if e.QualifiedName() != "acme:broker/rabbitmq" {
		t.Errorf("QualifiedName = %s", e.QualifiedName())
	}
	if e, err := set.Lookup(catalog.Ref{Name: "store/acme"}); err != nil || e.Catalog.Name != "acme" {
		t.Errorf("unique name: %+v, %v", e, err)
	}

	_, err = set.Lookup(catalog.Ref{Name: "store/nope"})
	var nf *catalog.NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "builtin, acme") || !strings.Contains(err.Error(), "micro-new list") {
		t.Errorf("unknown plugin: %v", err)
	}
	_, err = set.Lookup(catalog.Ref{Catalog: "other", Name: "store/redis"})
	var uc *catalog.UnknownCatalogError
	if !errors.As(err, &uc) || !strings.Contains(err.Error(), "--catalog") {
		t.Errorf("unknown catalog: %v", err)
	}

	all := set.All()
	if len(all) != len(wantPlugins)+2 {
		t.Errorf("All: %d entries", len(all))
	}
	if hits := set.Search("RABBITMQ"); len(hits) != 2 {
		t.Errorf("Search(RABBITMQ): %d hits, want 2", len(hits))
	}
	if hits := set.Search("jetstream"); len(hits) != 3 {
		t.Errorf("Search(jetstream): %d hits, want 3", len(hits))
	}

	if _, err := catalog.NewSet(catalog.Builtin(), catalog.Builtin()); err == nil || !strings.Contains(err.Error(), `both named "builtin"`) {
		t.Errorf("two catalogs of one name: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acme.json")
	if err := os.WriteFile(path, []byte(extraCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/acme.json":
			w.Write([]byte(extraCatalog))
		case "/bad.json":
			w.Write([]byte(`{"format": 1, "name": "bad", "plugins": [], "extra": 1}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	for _, ref := range []string{path, "file://" + path, srv.URL + "/acme.json"} {
		c, err := catalog.Load(ctx, ref, catalog.WithHTTPClient(srv.Client()))
		if err != nil {
			t.Errorf("Load(%s): %v", ref, err)
			continue
		}
		if c.Name != "acme" || len(c.Plugins) != 2 || c.Origin == "" {
			t.Errorf("Load(%s) = %+v", ref, c)
		}
	}
	for ref, want := range map[string]string{
		srv.URL + "/missing.json":     "404",
		srv.URL + "/bad.json":         `unknown field "extra"`,
		filepath.Join(dir, "no.json"): "no such file",
		"ftp://example.com/cat.json":  "scheme",
	} {
		if _, err := catalog.Load(ctx, ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s): %v, want %q", ref, err, want)
		}
	}

	set, err := catalog.LoadSet(ctx, []string{path})
	if err != nil || len(set.Catalogs()) != 2 {
		t.Fatalf("LoadSet: %v", err)
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a.json", []string{"a.json"}},
		{"a.json,b.json", []string{"a.json", "b.json"}},
		{"/x/a.json:/y/b.json", []string{"/x/a.json", "/y/b.json"}},
		{"http://127.0.0.1:8080/c.json,/x/a.json:b.json", []string{"http://127.0.0.1:8080/c.json", "/x/a.json", "b.json"}},
		{" file:///a.json , ", []string{"file:///a.json"}},
	}
	for _, tt := range tests {
		if got := catalog.SplitList(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("SplitList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(catalog.BuiltinJSON())
	f.Add([]byte(extraCatalog))
	f.Add([]byte(`{"format":1,"name":"x","plugins":[{"name":"store/x","kind":"store","description":"d","versions":[{"version":"1.0.0","protocols":[1],"source":{"package":"a/b"},"settings":[{"name":"n","type":"duration","default":"1s","description":"d"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.Parse(data, "fuzz")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a catalog that Validate rejects: %v", err)
		}
		for _, p := range c.Plugins {
			if p.Latest() == nil {
				t.Fatalf("%s: no latest version", p.Name)
			}
			if _, err := catalog.ParseRef(p.Name); err != nil {
				t.Fatalf("a valid catalog's name does not parse as a reference: %v", err)
			}
		}
	})
}

// Issue 13 item 8: versions are checked by golang.org/x/mod/semver, not a
// hand-written parser, which took a numeric pre-release identifier with a
// leading zero and overflowing numbers for valid versions.
func TestVersionsUseXModSemver(t *testing.T) {
	tests := []struct {
		v     string
		valid bool
	}{
		{"1.0.0-01", false},
		{"1.0.0-alpha.01", false},
		{"1.2.3", true},
		{"v1.2.3-rc.1+build.7", true},
		{"1.0.0-0alpha", true},
		{"99999999999999999999.0.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			if got := catalog.ValidVersion(tt.v); got != tt.valid {
				t.Errorf("ValidVersion(%q) = %v, want %v", tt.v, got, tt.valid)
			}
		})
	}
	if catalog.CompareVersions("99999999999999999999.0.0", "99999999999999999998.0.0") != 1 {
		t.Error("big major versions compare wrong")
	}
}
