//go:build unix && !linux

package spawn

import (
	"os"
	"os/exec"

	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
)

// Command returns the command that starts the plugin binary at path, with
// the host link's plugin end, child, as descriptor 3. Without /proc/self/fd, it is
// started from its path, right after bin was checked (doc.go).
func Command(_ *os.File, path string, child *os.File) (*exec.Cmd, func(), error) {
	return &exec.Cmd{
		Path:       path,
		Args:       []string{path},
		ExtraFiles: []*os.File{child},
		Env:        []string{hostlink.EnvHostLink + "=3"},
	}, func() {}, nil
}
