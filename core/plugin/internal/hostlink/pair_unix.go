//go:build unix

package hostlink

import (
	"net"
	"os"
	"syscall"
)

// SocketPair returns the two ends of a connected unix stream socket pair:
// the plugin's, as a file to inherit, and the host's.
func SocketPair() (child *os.File, host net.Conn, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	child = os.NewFile(uintptr(fds[0]), "plugin-link")
	hf := os.NewFile(uintptr(fds[1]), "host-link")
	host, err = net.FileConn(hf)
	hf.Close()
	if err != nil {
		child.Close()
		return nil, nil, err
	}
	return child, host, nil
}

// Supported says whether plugins get a host link on this platform.
const Supported = true
