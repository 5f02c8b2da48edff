//go:build unix && !linux

package plugin

import (
	"os"
	"os/exec"
)

// hostLinks says whether plugins get a host link (hostlink.go).
const hostLinks = true

// command returns the command that starts the plugin binary at path, with
// the host link's plugin end as descriptor 3. Without /proc/self/fd, it is
// started from its path, right after bin was checked (secure.go).
func command(_ *os.File, path string, link *hostLink) (*exec.Cmd, func(), error) {
	return &exec.Cmd{
		Path:       path,
		Args:       []string{path},
		ExtraFiles: []*os.File{link.r},
		Env:        []string{envHostLink + "=3"},
	}, func() {}, nil
}
