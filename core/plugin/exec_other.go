//go:build !unix

package plugin

import (
	"os"
	"os/exec"
)

// hostLinks says whether plugins get a host link (hostlink.go): not here,
// where a child inherits no extra descriptor. The channel uses go-plugin's
// AutoMTLS, and the plugin watches its parent process only.
const hostLinks = false

// command returns the command that starts the plugin binary at path, right
// after bin was checked (secure.go).
func command(_ *os.File, path string, _ *hostLink) (*exec.Cmd, func(), error) {
	return &exec.Cmd{Path: path, Args: []string{path}}, func() {}, nil
}
