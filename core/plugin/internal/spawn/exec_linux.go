package spawn

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
)

// Command returns the command that starts the plugin binary bin, opened
// from path, with the host link's plugin end, child, as descriptor 3.
//
// The process is started from bin itself, through /proc/self/fd/N, not from
// path: what runs is what was hashed (doc.go). N is a duplicate of bin
// that has the same number in the host and in the plugin, so that the name
// means the binary in both (go-plugin reads cmd.Path in the host for its
// diagnostics). The plugin sees its path as argv[0], and closes N (Serve).
//
// The kernel kills the plugin when the host dies (Pdeathsig), strictly when
// the thread that started it ends: launch starts it from a goroutine locked
// to its thread for as long as the plugin runs.
//
// release closes the host's duplicate of bin, once the process started.
func Command(bin *os.File, path string, child *os.File) (cmd *exec.Cmd, release func(), err error) {
	cmd = &exec.Cmd{
		Path:        path,
		Args:        []string{path},
		ExtraFiles:  []*os.File{child},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
		Env:         []string{hostlink.EnvHostLink + "=3"},
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return cmd, func() {}, nil // no /proc: started from the path
	}
	n, err := unix.FcntlInt(bin.Fd(), unix.F_DUPFD_CLOEXEC, 4)
	if err != nil {
		return nil, nil, err
	}
	exe := os.NewFile(uintptr(n), path)
	extra := make([]*os.File, n-2) // descriptors 3 to n; nil ones are closed
	extra[0], extra[n-3] = child, exe
	cmd.Path = "/proc/self/fd/" + strconv.Itoa(n)
	cmd.ExtraFiles = extra
	cmd.Env = append(cmd.Env, hostlink.EnvExeFD+"="+strconv.Itoa(n))
	return cmd, func() { exe.Close() }, nil
}
