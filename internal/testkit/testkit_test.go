package testkit_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/testkit"
)

var fromSetup string // a file the setup of TestMain wrote

func TestMain(m *testing.M) {
	testkit.Main(m, func(tb testing.TB) {
		fromSetup = tb.TempDir() + "/setup"
		if err := os.WriteFile(fromSetup, []byte("ok"), 0o600); err != nil {
			tb.Fatal(err)
		}
	})
}

func TestSetupRan(t *testing.T) {
	if b, err := os.ReadFile(fromSetup); err != nil || string(b) != "ok" {
		t.Fatalf("the setup's file: %q, %v", b, err)
	}
}

func TestBufferConcurrentWriters(t *testing.T) {
	var b testkit.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "w%d\n", i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	if got := b.WaitFor(t, "w3", time.Second); got != "" {
		t.Fatalf("the rest of the line after w3: %q", got)
	}
}

func TestBinaryIsBuiltOnce(t *testing.T) {
	a := testkit.Binary(t, "./testdata/hello")
	st, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	b := testkit.Binary(t, "./testdata/hello")
	st2, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !st.ModTime().Equal(st2.ModTime()) {
		t.Fatalf("built twice: %s, %s", a, b)
	}
	if code, out, _ := testkit.Run(t, exec.Command(a, "there")); code != 0 || out != "hello there\n" {
		t.Fatalf("the binary: exit %d, %q", code, out)
	}
}

func TestRun(t *testing.T) {
	code, out, errs := testkit.Run(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if code != 3 || out != "out\n" || errs != "err\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if got := testkit.Output(t, exec.Command("sh", "-c", "echo out; echo err >&2")); got != "out\nerr\n" {
		t.Fatalf("Output: %q", got)
	}
}

func TestProcess(t *testing.T) {
	p := testkit.Start(t, exec.Command("sh", "-c", `trap 'echo stopping; exit 0' TERM; echo "listening on 127.0.0.1:1"; while :; do sleep 0.05; done`))
	if addr := p.WaitFor(t, "listening on ", 30*time.Second); addr != "127.0.0.1:1" {
		t.Fatalf("the rest of the line: %q", addr)
	}
	if err := p.Stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Out.String())
	}
	if !strings.Contains(p.Out.String(), "stopping") {
		t.Fatalf("the trap did not run:\n%s", p.Out.String())
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited is open after Stop")
	}
	// A stopped process stops again at once, with the same status.
	if err := p.Stop(t, syscall.SIGTERM, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestProcessExitStatus(t *testing.T) {
	var out testkit.Buffer
	cmd := exec.Command("sh", "-c", "trap 'exit 4' INT; echo to-stdout; echo to-stderr >&2; while :; do sleep 0.05; done")
	cmd.Stdout = &out
	p := testkit.Start(t, cmd)
	p.WaitFor(t, "to-stderr", 30*time.Second)
	out.WaitFor(t, "to-stdout", 30*time.Second)
	if strings.Contains(p.Out.String(), "to-stdout") {
		t.Errorf("Out has the stream set before Start: %q", p.Out.String())
	}
	err := p.Stop(t, os.Interrupt, 30*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("Stop: %v, want exit status 4", err)
	}
}

func TestProcessesIn(t *testing.T) {
	bin := testkit.Binary(t, "./testdata/hello")
	dir := bin[:strings.LastIndex(bin, "/")]
	if got := testkit.ProcessesIn(t, dir); len(got) != 0 {
		t.Fatalf("before the start: %v", got)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self := fmt.Sprint(os.Getpid(), " ", exe)
	if got := testkit.ProcessesIn(t, exe); !slices.Contains(got, self) {
		t.Fatalf("the test's own process %q is not among %v", self, got)
	}
}

func TestTerminal(t *testing.T) {
	p, tty := testkit.StartTerminal(t, exec.Command("sh", "-c", `[ -t 0 ] && printf 'name? '; read x; echo "got $x"`), 24, 80)
	at := p.Out.WaitAfter(t, "name? ", 0, 30*time.Second)
	tty.Write([]byte("ada\r"))
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Out.String())
	}
	// All of it was read before Wait returned.
	if got := p.Out.String()[at:]; !strings.Contains(got, "got ada") {
		t.Fatalf("after the question: %q", got)
	}
}

func TestServerURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := testkit.Server{Name: "Test", Env: "MICRO_TESTKIT_SERVER", Default: "tcp://" + ln.Addr().String(), Start: "start it"}
	if got := s.URL(t); got != s.Default {
		t.Fatalf("URL = %q, want the default %q", got, s.Default)
	}
	t.Setenv(s.Env, "tcp://"+ln.Addr().String()+"/x")
	if got := s.URL(t); got != "tcp://"+ln.Addr().String()+"/x" {
		t.Fatalf("URL = %q, want $%s", got, s.Env)
	}
}
