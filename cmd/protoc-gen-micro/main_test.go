package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite the committed generated code instead of comparing with it")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// plugin builds protoc-gen-micro into a directory of the test.
func plugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "protoc-gen-micro")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func protoc(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("protoc")
	if err != nil {
		t.Fatal("protoc is not installed: run make setup (Debian: apt-get install protobuf-compiler)")
	}
	return p
}

// TestGolden runs the plugin under protoc and compares its output with the
// committed internal/greeterpb/greeter_micro.pb.go, which the tests of
// package greeterpb compile and call.
func TestGolden(t *testing.T) {
	pc, bin := protoc(t), plugin(t)
	out := t.TempDir()
	// As make generate runs it: from the module's root.
	cmd := exec.Command(pc, "--plugin=protoc-gen-micro="+bin, "--micro_out=paths=source_relative:"+out, "cmd/protoc-gen-micro/internal/greeterpb/greeter.proto")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, "cmd/protoc-gen-micro/internal/greeterpb/greeter_micro.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	golden := "internal/greeterpb/greeter_micro.pb.go"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("protoc-gen-micro output differs from %s; if the change is intended, run go test ./cmd/protoc-gen-micro -run TestGolden -update\n--- got\n%s", golden, got)
	}
}

// TestStreamingUnderProtoc: protoc generates the stream RPCs of a file
// beside its unary ones.
func TestStreamingUnderProtoc(t *testing.T) {
	pc, bin := protoc(t), plugin(t)
	out := t.TempDir()
	cmd := exec.Command(pc, "--plugin=protoc-gen-micro="+bin, "--micro_out="+out, "streaming.proto")
	cmd.Dir = "testdata"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, "example.com/streampb/streaming_micro.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"func (x *ChatClient) Ask(ctx context.Context, req *Question, opts ...client.CallOption) (*Answer, error)",
		"func (x *ChatClient) Watch(ctx context.Context, req *Question, opts ...client.CallOption) (*ChatWatchStream, error)",
		"func (x *ChatClient) Talk(ctx context.Context, opts ...client.CallOption) (*ChatTalkStream, error)",
		"Watch(ctx context.Context, req *Question, stream server.ServerStream[Answer]) error",
		"Talk(ctx context.Context, stream server.BidiStream[Question, Answer]) error",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func method(name string, clientStream, serverStream bool) *descriptorpb.MethodDescriptorProto {
	return &descriptorpb.MethodDescriptorProto{
		Name: proto.String(name), InputType: proto.String(".s.M"), OutputType: proto.String(".s.M"),
		ClientStreaming: proto.Bool(clientStream), ServerStreaming: proto.Bool(serverStream),
	}
}

func request(methods ...*descriptorpb.MethodDescriptorProto) *pluginpb.CodeGeneratorRequest {
	return &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{"s.proto"},
		ProtoFile: []*descriptorpb.FileDescriptorProto{{
			Name: proto.String("s.proto"), Package: proto.String("s"), Syntax: proto.String("proto3"),
			Options:     &descriptorpb.FileOptions{GoPackage: proto.String("example.com/spb")},
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
			Service:     []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("S"), Method: methods}},
		}},
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		methods []*descriptorpb.MethodDescriptorProto
		want    []string // in the generated file
		not     []string // not in it
	}{
		{"unary", []*descriptorpb.MethodDescriptorProto{method("A", false, false)},
			[]string{
				"A(ctx context.Context, req *M, rsp *M) error",
				"func (x *SClient) A(ctx context.Context, req *M, opts ...client.CallOption) (*M, error)",
			},
			// A service without streams needs no Stream of its Caller.
			[]string{"Stream(", `"io"`}},
		{"client streaming", []*descriptorpb.MethodDescriptorProto{method("A", false, false), method("Up", true, false)},
			[]string{
				"Up(ctx context.Context, stream server.BidiStream[M, M]) error",
				"func (UnimplementedSHandler) Up(context.Context, server.BidiStream[M, M]) error",
				"Stream(ctx context.Context, service, endpoint string, opts ...client.CallOption) (*client.Stream, error)",
				"func (x *SClient) Up(ctx context.Context, opts ...client.CallOption) (*SUpStream, error)",
				"func (x *SUpStream) Send(m *M) error",
				"func (x *SUpStream) CloseSend() error",
				"func (x *SUpStream) Recv() (*M, error)",
				"func (x *SUpStream) Close() error",
			}, nil},
		{"server and bidirectional streaming", []*descriptorpb.MethodDescriptorProto{method("Down", false, true), method("Both", true, true)},
			[]string{
				"Down(ctx context.Context, req *M, stream server.ServerStream[M]) error",
				"func (UnimplementedSHandler) Down(context.Context, *M, server.ServerStream[M]) error",
				"func (x *SClient) Down(ctx context.Context, req *M, opts ...client.CallOption) (*SDownStream, error)",
				"func (x *SDownStream) Recv() (*M, error)",
				"Both(ctx context.Context, stream server.BidiStream[M, M]) error",
				"func (x *SClient) Both(ctx context.Context, opts ...client.CallOption) (*SBothStream, error)",
				"func (x *SBothStream) Send(m *M) error",
			},
			// The request of a server stream is sent by the method that opens it.
			[]string{"func (x *SDownStream) Send(", "func (x *SDownStream) CloseSend("}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen, err := protogen.Options{}.New(request(tt.methods...))
			if err != nil {
				t.Fatal(err)
			}
			if err := generate(gen); err != nil {
				t.Fatal(err)
			}
			files := gen.Response().File
			if len(files) != 1 || files[0].GetName() != "example.com/spb/s_micro.pb.go" {
				t.Fatalf("files %v, want example.com/spb/s_micro.pb.go", files)
			}
			content := files[0].GetContent()
			for _, want := range tt.want {
				if !strings.Contains(content, want) {
					t.Errorf("file lacks %q", want)
				}
			}
			for _, not := range tt.not {
				if strings.Contains(content, not) {
					t.Errorf("file has %q", not)
				}
			}
			if t.Failed() {
				t.Logf("generated:\n%s", content)
			}
		})
	}
}
