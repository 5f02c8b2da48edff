package typed_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seedmicro/micro/generator/typed"
)

var update = flag.Bool("update", false, "rewrite the golden client instead of comparing with it")

const goldenClient = "internal/shop/shopclient/shopclient.micro.go"

// golden plans the client of fixture package pkg and compares it with the
// committed file golden (rewritten with -update); it returns the result.
func golden(t *testing.T, pkg, golden string) (*typed.Result, typed.File) {
	t.Helper()
	res, err := typed.Plan(context.Background(), ".", pkg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 {
		t.Fatalf("%d files, want 1: %v", len(res.Files), res.Files)
	}
	f := res.Files[0]
	abs, _ := filepath.Abs(golden)
	if f.Path != abs {
		t.Errorf("path %s, want %s", f.Path, abs)
	}
	if *update {
		if err := os.WriteFile(golden, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Content, want) {
		t.Fatalf("generated client differs from %s; if the change is intended, run go test ./generator/typed -run TestGolden -update\n--- got\n%s", golden, f.Content)
	}
	return res, f
}

// TestGolden compares the client of the fixture package with the committed
// one, which call_test.go compiles and calls against a real server.
func TestGolden(t *testing.T) {
	res, f := golden(t, "./internal/shop", goldenClient)
	if len(res.Diagnostics) != 0 {
		t.Errorf("diagnostics for the fixture: %v", res.Diagnostics)
	}
	for _, want := range []string{
		typed.Header,
		"const _ bool = micro.SupportPackageIsVersion1",
		"// Place places an order for req.Quantity of req.Item.\n//\n// A quantity below 1 is an InvalidArgument error.\nfunc (x *OrdersClient) Place(",
		"func NewStock(c Caller, opts ...Option) *StockClient",
		"ShippedTopic = shop.TopicShipped",
		`RefundedTopic = "shop.refunded"`,
		"const ServiceName = shop.ServiceName",
	} {
		if !bytes.Contains(f.Content, []byte(want)) {
			t.Errorf("client lacks %q", want)
		}
	}
	if bytes.Contains(f.Content, []byte("Total")) || bytes.Contains(f.Content, []byte("micro:subscribe")) {
		t.Error("client carries a method that is not an endpoint, or a directive")
	}
}

// TestGoldenStreams compares the client of the stream fixture with the
// committed one, which stream_test.go compiles and runs against a real
// server.
func TestGoldenStreams(t *testing.T) {
	res, f := golden(t, "./internal/feed", "internal/feed/feedclient/feedclient.micro.go")
	if len(res.Diagnostics) != 0 {
		t.Errorf("diagnostics for the fixture: %v", res.Diagnostics)
	}
	for _, want := range []string{
		"Stream(ctx context.Context, service, endpoint string, opts ...client.CallOption) (*client.Stream, error)",
		"func (x *Client) Latest(ctx context.Context, req *feed.WatchRequest, opts ...client.CallOption) (*feed.Event, error)",
		"func (x *Client) Watch(ctx context.Context, req *feed.WatchRequest, opts ...client.CallOption) (*FeedWatchStream, error)",
		"func (x *FeedWatchStream) Recv() (*feed.Event, error)",
		"func (x *Client) Add(ctx context.Context, opts ...client.CallOption) (*FeedAddStream, error)",
		"func (x *FeedAddStream) Send(m *feed.Number) error",
		"func (x *FeedAddStream) Recv() (*feed.Sum, error)",
		"func (x *Client) Shout(ctx context.Context, opts ...client.CallOption) (*FeedShoutStream, error)",
		"func (x *FeedShoutStream) CloseSend() error",
		"func (x *FeedShoutStream) Close() error",
		`FeedWatchEndpoint = "Feed.Watch"`,
	} {
		if !bytes.Contains(f.Content, []byte(want)) {
			t.Errorf("client lacks %q", want)
		}
	}
	for _, not := range []string{"func (x *FeedWatchStream) Send(", "func (x *FeedWatchStream) CloseSend("} {
		if bytes.Contains(f.Content, []byte(not)) {
			t.Errorf("client has %q: a server stream's request is sent by the method that opens it", not)
		}
	}
	// A package without streams keeps the Caller of calls only, so that
	// its test doubles need no Stream method.
	_, shopc := golden(t, "./internal/shop", goldenClient)
	if bytes.Contains(shopc.Content, []byte("Stream(")) || bytes.Contains(shopc.Content, []byte(`"io"`)) {
		t.Error("the client of a package without stream endpoints mentions streams")
	}
}

// lineDiagnostic is the diagnostic expected on a line of a fixture.
type lineDiagnostic struct {
	line int
	want string // the message's start; "": no diagnostic
}

// planDiagnostics plans fixture package pkg, whose file is file, and checks
// that its diagnostics are exactly those of tests, each at its line with a
// position.
func planDiagnostics(t *testing.T, pkg, file string, tests []lineDiagnostic) *typed.Result {
	t.Helper()
	res, err := typed.Plan(context.Background(), ".", pkg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, d := range res.Diagnostics {
		if filepath.Base(d.Pos.Filename) != file || d.Pos.Column == 0 {
			t.Errorf("diagnostic without a position in %s: %v", file, d)
		}
		got[d.Pos.Line] = d.Message
	}
	want := 0
	for _, tt := range tests {
		if tt.want != "" {
			want++
		}
		t.Run(strings.Fields(tt.want + " none")[0], func(t *testing.T) {
			msg, ok := got[tt.line]
			switch {
			case tt.want == "" && ok:
				t.Errorf("line %d: unexpected diagnostic %q", tt.line, msg)
			case tt.want != "" && !strings.HasPrefix(msg, tt.want):
				t.Errorf("line %d: diagnostic %q, want it to start with %q", tt.line, msg, tt.want)
			}
		})
	}
	if len(res.Diagnostics) != want {
		t.Errorf("%d diagnostics, want %d: %v", len(res.Diagnostics), want, res.Diagnostics)
	}
	return res
}

func TestDiagnostics(t *testing.T) {
	res := planDiagnostics(t, "./testdata/bad", "bad.go", []lineDiagnostic{
		{13, ""}, // Good
		{14, "H.ValueRequest is not an endpoint: its request parameter is bad.Req, not a pointer"},
		{15, "H.ValueResponse is not an endpoint: its response parameter is bad.Rsp, not a pointer"},
		{16, "H.NoContext is not an endpoint: it takes 2 parameters"},
		{17, "H.TwoResults is not an endpoint: it returns (int, error); an endpoint returns error only"},
		{18, "H.Unexported is not an endpoint: its request type hidden is unexported"},
		{19, "H.Subscriberish is not an endpoint: it has the shape of a subscriber"},
		{20, "H.Variadic is not an endpoint: it is variadic"},
		{21, ""}, // Ignored() int: not meant as an endpoint
		{26, "H.WrongSubscriber has a //micro:subscribe line but is not a subscriber: its event parameter is bad.Req, not a pointer"},
		{31, "UnknownTopic: //micro:subscribe NoSuchConstant: the package declares no NoSuchConstant"},
		{36, ""}, // NotAHandler.Close
		{43, ""}, // Skipped.Do: //micro:ignore
		{49, "AllWrong.Do is not an endpoint: its request parameter is bad.Req, not a pointer"},
		{50, ""}, // AllWrong.Close: AllWrong has no endpoint
	})
	// The package's one endpoint still gets a client.
	if len(res.Files) != 1 || !bytes.Contains(res.Files[0].Content, []byte("func (x *Client) Good(")) ||
		bytes.Contains(res.Files[0].Content, []byte("Skipped")) {
		t.Errorf("client of package bad: %v", res.Files)
	}
}

// TestStreamDiagnostics: a method that takes a server stream type but has
// not the shape of a stream endpoint is reported with the reason, even on
// a type with no endpoint; the good stream endpoints get their client.
func TestStreamDiagnostics(t *testing.T) {
	res := planDiagnostics(t, "./testdata/badstream", "badstream.go", []lineDiagnostic{
		{17, ""}, // S.Watch
		{18, ""}, // S.Talk
		{19, "S.Pointer is not a stream endpoint: it takes a pointer to server.ServerStream[badstream.Rsp]; take the stream by value"},
		{22, "S.NoRequest is not a stream endpoint: it takes (context.Context, server.ServerStream[badstream.Rsp]); an endpoint taking server.ServerStream[badstream.Rsp] is func(ctx context.Context, req *Req, stream server.ServerStream[Rsp]) error (a stream without one request is func(ctx context.Context, stream server.BidiStream[Req, Rsp]) error)"},
		{23, "S.BidiRequest is not a stream endpoint: it takes (context.Context, *badstream.Req, server.BidiStream[badstream.Req, badstream.Rsp]); an endpoint taking server.BidiStream[badstream.Req, badstream.Rsp] is func(ctx context.Context, stream server.BidiStream[Req, Rsp]) error"},
		{26, "S.ValueRequest is not a stream endpoint: its request parameter is badstream.Req, not a pointer: take *badstream.Req"},
		{27, "S.NoContext is not a stream endpoint: it takes (*badstream.Req, server.ServerStream[badstream.Rsp]); an endpoint taking server.ServerStream[badstream.Rsp] is func(ctx context.Context, req *Req, stream server.ServerStream[Rsp]) error"},
		{28, "S.Results is not a stream endpoint: it returns (int, error); a stream endpoint returns error only"},
		{29, "S.Hidden is not an endpoint: its response type hidden is unexported"},
		{36, "Only.Watch is not a stream endpoint: it takes a pointer to server.BidiStream[badstream.Req, badstream.Rsp]; take the stream by value"},
	})
	for _, d := range res.Diagnostics {
		if d.Pos.Line == 27 && strings.Contains(d.Message, "without one request") {
			t.Errorf("line 27: the hint for a missing request is given to a method missing its context: %q", d.Message)
		}
	}
	if len(res.Files) != 1 {
		t.Fatalf("%d files, want 1", len(res.Files))
	}
	c := string(res.Files[0].Content)
	for _, want := range []string{"func (x *Client) Watch(", "func (x *Client) Talk(", "STalkEndpoint", "SWatchEndpoint"} {
		if !strings.Contains(c, want) {
			t.Errorf("client lacks %q", want)
		}
	}
	if n := strings.Count(c, "Endpoint = "); n != 2 {
		t.Errorf("client has %d endpoints, want 2 (Watch and Talk)", n)
	}
}

func TestBrokenPackageWritesNothing(t *testing.T) {
	written, err := typed.Generate(context.Background(), ".", "./testdata/broken", "./internal/shop")
	var pe *typed.PackageError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want a *typed.PackageError", err)
	}
	if !strings.HasSuffix(pe.Package, "testdata/broken") || !strings.Contains(pe.Error(), "broken.go:10") || !strings.Contains(pe.Error(), "undefined: Missing") {
		t.Errorf("error %q does not name the package and the position of the type error", pe)
	}
	if len(written) != 0 {
		t.Errorf("wrote %v; the golden client is up to date and the broken package gets nothing", written)
	}
	if _, err := os.Stat("testdata/broken/brokenclient"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("testdata/broken/brokenclient exists (%v)", err)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	gen := []byte(typed.Header + "\npackage x\n")
	tests := []struct {
		name    string
		old     []byte // nil: no file
		content []byte
		written bool
		err     string
	}{
		{"new file", nil, gen, true, ""},
		{"unchanged is not rewritten", gen, gen, false, ""},
		{"changed generated file", gen, append(append([]byte{}, gen...), "// more\n"...), true, ""},
		{"foreign file refused", []byte("package x // mine\n"), gen, false, "was not written by micro-new gen"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "sub", string(rune('a'+i)), "c.micro.go")
			if tt.old != nil {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, tt.old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			written, err := typed.Write(&typed.Result{Files: []typed.File{{Path: path, Content: tt.content}}})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if (len(written) == 1) != tt.written {
				t.Errorf("written %v, want written=%v", written, tt.written)
			}
			b, _ := os.ReadFile(path)
			want := tt.content
			if tt.err != "" {
				want = tt.old
			}
			if !bytes.Equal(b, want) {
				t.Errorf("file holds %q, want %q", b, want)
			}
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Errorf("directory holds %d entries, want 1 (no temporary file left)", len(ents))
			}
		})
	}
}

func TestHandlersInMainPackage(t *testing.T) {
	res, err := typed.Plan(context.Background(), ".", "./testdata/mainpkg")
	var pe *typed.PackageError
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "package main, which a client package cannot import") {
		t.Fatalf("error %v, want one saying package main cannot be imported", err)
	}
	if len(res.Files) != 0 {
		t.Fatalf("files %v for package main", res.Files)
	}
}
