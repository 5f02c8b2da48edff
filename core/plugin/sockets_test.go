package plugin_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sockets returns the unix sockets below dir.
func sockets(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket != 0 {
			found = append(found, path)
		}
		return nil
	})
	return found
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestGroupSIGTERMLeavesNoSocketAndNoCrash is issue 12, item 7: a host and
// its plugin, in a process group of their own, get SIGTERM together, as
// systemd and timeout send it. The host shuts down as a service does; its
// log has no "plugin crashed; restarting" ERROR, and no socket is left
// behind in the temporary directory. While the plugin runs, its socket is
// in a private directory of the host (mode 0700), and a start removes the
// socket directories of hosts that are gone.
func TestGroupSIGTERMLeavesNoSocketAndNoCrash(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	// A short one: a unix socket's path is short.
	tmp, err := os.MkdirTemp("", "sigterm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	// What a host killed before it could clean up left behind.
	base := filepath.Join(tmp, "micro-plugin-"+strconv.Itoa(os.Geteuid()))
	stale := filepath.Join(base, strconv.Itoa(deadPID(t))+"-1")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0o700)
	if err := os.WriteFile(filepath.Join(stale, "plugin123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := hostCommand("term:store", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pid, errb := launchHost(t, cmd, "", func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})

	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the socket directory of a host that is gone, %s, is still there", stale)
	}
	socks := sockets(t, tmp)
	if len(socks) != 1 {
		t.Fatalf("sockets in the temporary directory while the plugin runs: %v, want one", socks)
	}
	dir := filepath.Dir(socks[0])
	if filepath.Dir(dir) != base {
		t.Errorf("the plugin's socket %s is not in a directory of its host's below %s", socks[0], base)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the socket directory %s: %v, %v; want mode 0700", dir, fi.Mode(), err)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("host: %v; stderr:\n%s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the host did not exit after SIGTERM; stderr:\n%s", errb.String())
	}
	waitGone(t, pid, 5*time.Second)
	log := errb.String()
	if strings.Contains(log, "crashed") || strings.Contains(log, "level=ERROR") {
		t.Errorf("an ordinary shutdown was logged as a crash:\n%s", log)
	}
	if !strings.Contains(log, "host: closed") {
		t.Errorf("the host did not close its plugin:\n%s", log)
	}
	if socks := sockets(t, tmp); len(socks) > 0 {
		t.Errorf("sockets left behind: %v", socks)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the host's socket directory %s is still there", dir)
	}
}
