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

// TestStreamingUnderProtoc: protoc fails, naming each streaming RPC.
func TestStreamingUnderProtoc(t *testing.T) {
	pc, bin := protoc(t), plugin(t)
	cmd := exec.Command(pc, "--plugin=protoc-gen-micro="+bin, "--micro_out="+t.TempDir(), "streaming.proto")
	cmd.Dir = "testdata"
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("protoc succeeded on streaming RPCs:\n%s", b)
	}
	for _, want := range []string{"stream.v1.Chat.Watch (server streaming", "stream.v1.Chat.Talk (bidirectional streaming", "not supported"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("protoc output lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "Chat.Ask") {
		t.Errorf("the unary Chat.Ask is reported:\n%s", b)
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
		errs    []string // substrings of the error; none: success
		files   []string
	}{
		{"unary", []*descriptorpb.MethodDescriptorProto{method("A", false, false)}, nil, []string{"example.com/spb/s_micro.pb.go"}},
		{"client streaming", []*descriptorpb.MethodDescriptorProto{method("A", false, false), method("Up", true, false)},
			[]string{"s.S.Up (client streaming, in s.proto)"}, nil},
		{"every kind named", []*descriptorpb.MethodDescriptorProto{method("Down", false, true), method("Both", true, true)},
			[]string{"s.S.Down (server streaming", "s.S.Both (bidirectional streaming"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen, err := protogen.Options{}.New(request(tt.methods...))
			if err != nil {
				t.Fatal(err)
			}
			err = generate(gen)
			if len(tt.errs) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.errs {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want it to contain %q", err, want)
				}
			}
			var names []string
			for _, f := range gen.Response().File {
				names = append(names, f.GetName())
			}
			if strings.Join(names, ",") != strings.Join(tt.files, ",") {
				t.Errorf("files %v, want %v", names, tt.files)
			}
		})
	}
}
