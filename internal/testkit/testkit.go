// Package testkit is what the tests of the tools (micro, micro-new, the
// toolkit, resolve, the end-to-end tests) share: a TestMain that checks for
// leaked goroutines, binaries built once per test binary, a command run for
// its exit status and output, and a process started in the background with
// its output in a buffer that is safe to read while it writes.
//
// It is for tests only, and core/ never imports it (core has helpers of its
// own).
package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.uber.org/goleak"
)

// Buffer is a bytes.Buffer safe for concurrent writers (a process's
// standard output and error, a logger, a ticker) and the test reading it.
// The zero Buffer is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitAfter waits until s has been written at or after the offset from,
// and returns the offset just after it, for the next wait to start at.
// After within, it fails tb with what was written.
func (b *Buffer) WaitAfter(tb testing.TB, s string, from int, within time.Duration) int {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		if out := b.String(); len(out) >= from {
			if i := strings.Index(out[from:], s); i >= 0 {
				return from + i + len(s)
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%q did not appear within %v in:\n%s", s, within, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitFor waits until marker has been written and returns the rest of its
// line; after within, it fails tb with what was written.
func (b *Buffer) WaitFor(tb testing.TB, marker string, within time.Duration) string {
	tb.Helper()
	i := b.WaitAfter(tb, marker, 0, within)
	line, _, _ := strings.Cut(b.String()[i:], "\n")
	return line
}

// The directory Main makes for the binaries and the temporary directories
// of its setup, and the binaries built in it.
var (
	mainMu   sync.Mutex
	mainDir  string
	binaries = map[string]*binary{}
)

type binary struct {
	once sync.Once
	path string
	err  error
}

// Main runs a package's tests and exits: setup first (when not nil), with
// a testing.TB whose TempDir lies in a directory removed at the end and
// whose Fatal stops the run; then the tests; then, when they passed, a
// check that no goroutine is left behind (goleak). Binaries built by
// Binary live in the same directory.
func Main(m *testing.M, setup func(tb testing.TB)) {
	os.Exit(run(m, setup))
}

func run(m *testing.M, setup func(tb testing.TB)) (code int) {
	dir, err := os.MkdirTemp("", "micro-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	mainMu.Lock()
	mainDir = dir
	mainMu.Unlock()
	if setup != nil {
		if err := runSetup(setup, &mainTB{dir: dir}); err != nil {
			fmt.Fprintln(os.Stderr, "TestMain:", err)
			return 1
		}
	}
	if code = m.Run(); code != 0 {
		return code
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		return 1
	}
	return 0
}

// fatal is what mainTB.Fatal panics with, for runSetup to recover.
type fatal struct{ msg string }

func runSetup(setup func(tb testing.TB), tb *mainTB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	setup(tb)
	return nil
}

// mainTB is the testing.TB of Main's setup: the helpers of the tests run
// in it as in a test.
type mainTB struct {
	testing.TB
	dir string
	n   int
}

func (*mainTB) Helper() {}

func (m *mainTB) TempDir() string {
	m.n++
	d := filepath.Join(m.dir, fmt.Sprint("tmp", m.n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		m.Fatal(err)
	}
	return d
}

func (*mainTB) Logf(f string, args ...any)   { fmt.Fprintf(os.Stderr, f+"\n", args...) }
func (*mainTB) Fatal(args ...any)            { panic(fatal{fmt.Sprint(args...)}) }
func (*mainTB) Fatalf(f string, args ...any) { panic(fatal{fmt.Sprintf(f, args...)}) }

// Binary builds the package pkg (as go build names it, relative to the
// test's directory) once per test binary and returns the binary's path,
// named as the package's directory. It needs TestMain to call Main, which
// removes the binaries at the end.
func Binary(tb testing.TB, pkg string) string {
	tb.Helper()
	mainMu.Lock()
	dir := mainDir
	b := binaries[pkg]
	if b == nil {
		// A directory of its own, for packages of the same name.
		b = &binary{path: filepath.Join(dir, "bin", fmt.Sprint(len(binaries)))}
		binaries[pkg] = b
	}
	mainMu.Unlock()
	if dir == "" {
		tb.Fatalf("testkit.Binary(%q) needs the package's TestMain to call testkit.Main", pkg)
	}
	b.once.Do(func() {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(b.path, filepath.Base(abs))
		b.err = build(b.path, pkg)
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// Build builds the package pkg into the file out, for a test that wants a
// binary of its own (another name, a place it checks).
func Build(tb testing.TB, out, pkg string) {
	tb.Helper()
	if err := build(out, pkg); err != nil {
		tb.Fatal(err)
	}
}

func build(out, pkg string) error {
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s %s: %v\n%s", out, pkg, err, b)
	}
	return nil
}

// Run runs cmd and returns its exit status and what it wrote to standard
// output and error. It fails tb when cmd cannot run at all.
func Run(tb testing.TB, cmd *exec.Cmd) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// Output runs cmd and returns its standard output and error, together; it
// fails tb, with them, when cmd does not exit with status 0.
func Output(tb testing.TB, cmd *exec.Cmd) string {
	tb.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// Process is a command started in the background.
type Process struct {
	Cmd *exec.Cmd
	// Out holds what the process writes to the standard streams that
	// were not set on Cmd before Start, or to its terminal.
	Out    *Buffer
	exited chan struct{}
	err    error // of Cmd.Wait, once exited is closed
}

// Start starts cmd, its standard output and error (those not set) going to
// the Process's Out. When the test ends, a process still running is killed.
func Start(tb testing.TB, cmd *exec.Cmd) *Process {
	tb.Helper()
	p := newProcess(cmd)
	if cmd.Stdout == nil {
		cmd.Stdout = p.Out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Out
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p.wait(tb, nil)
	return p
}

// StartTerminal starts cmd on a pseudo-terminal of rows and cols, for a
// test of what a program does on a terminal; what it shows there goes to
// the Process's Out, and what the test writes to the returned file is what
// the user types. When the test ends, a process still running is killed.
func StartTerminal(tb testing.TB, cmd *exec.Cmd, rows, cols uint16) (*Process, *os.File) {
	tb.Helper()
	p := newProcess(cmd)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		tb.Fatalf("start %s on a pseudo-terminal: %v", cmd.Path, err)
	}
	p.wait(tb, tty)
	return p, tty
}

func newProcess(cmd *exec.Cmd) *Process {
	return &Process{Cmd: cmd, Out: &Buffer{}, exited: make(chan struct{})}
}

// wait waits for the started process in the background; with a terminal,
// it copies the terminal into Out, and when the process has exited, reads
// what is left before it closes the terminal.
func (p *Process) wait(tb testing.TB, tty *os.File) {
	copied := make(chan struct{})
	if tty != nil {
		go func() {
			defer close(copied)
			io.Copy(p.Out, tty) // ends when the terminal has no writer left, or is closed
		}()
	}
	go func() {
		p.err = p.Cmd.Wait()
		if tty != nil {
			select {
			case <-copied:
			case <-time.After(5 * time.Second): // a child of the process holds the terminal
			}
			tty.Close()
			<-copied
		}
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.Cmd.Process.Kill()
			<-p.exited
		}
	})
}

// WaitFor waits until marker appears in Out and returns the rest of its
// line; after within, it fails tb with Out.
func (p *Process) WaitFor(tb testing.TB, marker string, within time.Duration) string {
	tb.Helper()
	return p.Out.WaitFor(tb, marker, within)
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Wait waits for the process to exit and returns what Cmd.Wait returned
// (nil for exit status 0). When it has not exited within the time given,
// Wait kills it and fails tb with its output.
func (p *Process) Wait(tb testing.TB, within time.Duration) error {
	tb.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		p.Cmd.Process.Kill()
		<-p.exited
		tb.Fatalf("%s did not exit within %v; output:\n%s", filepath.Base(p.Cmd.Path), within, p.Out.String())
		return nil
	}
}

// Stop sends sig and waits for the process to exit as Wait does.
func (p *Process) Stop(tb testing.TB, sig os.Signal, within time.Duration) error {
	tb.Helper()
	select {
	case <-p.exited:
		return p.err
	default:
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Fatal(err)
	}
	return p.Wait(tb, within)
}

// ProcessesIn returns the processes of this machine whose executable lies
// in dir, as "pid path" (Linux: it reads /proc). A test uses it to see that
// a plugin binary runs, or that none was left behind.
func ProcessesIn(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir) {
			found = append(found, e.Name()+" "+exe)
		}
	}
	return found
}
