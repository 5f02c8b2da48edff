package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Issue 12 item 3: on a terminal, install --from FILE without --sha256 says
// what it will run and asks; only a yes runs the file.
func TestUnpinnedFromAsksOnATerminal(t *testing.T) {
	for _, tt := range []struct {
		answer string
		code   int
		want   string
	}{
		{"y", 0, "installed broker/fake"},
		{"n", 1, "declined"},
		{"", 1, "declined"},
	} {
		t.Run("answer "+tt.answer, func(t *testing.T) {
			pluginDir := filepath.Join(t.TempDir(), "plugins")
			cmd := exec.Command(binary, "install", "broker/fake", "--from", fakes["v1"])
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=xterm", envPluginDir + "=" + pluginDir, envSourceDir + "=" + checkout}
			tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 60})
			if err != nil {
				t.Fatalf("start on a pseudo-terminal: %v", err)
			}
			defer tty.Close()
			var mu sync.Mutex
			var out bytes.Buffer
			read := make(chan struct{})
			go func() {
				defer close(read)
				buf := make([]byte, 4096)
				for {
					n, err := tty.Read(buf)
					mu.Lock()
					out.Write(buf[:n])
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			text := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(text(), "Run it? [y/N]") {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("no question on the terminal:\n%q", text())
				}
				time.Sleep(20 * time.Millisecond)
			}
			q := text()
			for _, want := range []string{fakes["v1"], "is not pinned", "runs it once", "sha256"} {
				if !strings.Contains(strings.ReplaceAll(q, "\r\n", " "), want) {
					t.Errorf("the question does not say %q:\n%q", want, q)
				}
			}
			io.WriteString(tty, tt.answer+"\r")
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case <-waited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-waited
				t.Fatalf("micro-new did not finish:\n%q", text())
			}
			tty.Close()
			<-read
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit %d, want %d:\n%q", code, tt.code, text())
			}
			if !strings.Contains(text(), tt.want) {
				t.Errorf("output lacks %q:\n%q", tt.want, text())
			}
			_, err = os.Stat(filepath.Join(pluginDir, "micro-plugin-broker-fake"))
			if installed := err == nil; installed != (tt.code == 0) {
				t.Errorf("installed: %v", installed)
			}
		})
	}
}
