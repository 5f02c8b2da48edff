package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedmicro/micro/internal/testkit"
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
			proc, tty := testkit.StartTerminal(t, cmd, 24, 60)
			text := proc.Out.String
			proc.WaitFor(t, "Run it? [y/N]", 20*time.Second)
			q := text()
			for _, want := range []string{fakes["v1"], "is not pinned", "runs it once", "sha256"} {
				if !strings.Contains(strings.ReplaceAll(q, "\r\n", " "), want) {
					t.Errorf("the question does not say %q:\n%q", want, q)
				}
			}
			io.WriteString(tty, tt.answer+"\r")
			proc.Wait(t, 30*time.Second)
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit %d, want %d:\n%q", code, tt.code, text())
			}
			if !strings.Contains(text(), tt.want) {
				t.Errorf("output lacks %q:\n%q", tt.want, text())
			}
			_, err := os.Stat(filepath.Join(pluginDir, "micro-plugin-broker-fake"))
			if installed := err == nil; installed != (tt.code == 0) {
				t.Errorf("installed: %v", installed)
			}
		})
	}
}
