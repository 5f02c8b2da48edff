//go:build !unix

package hostlink

import (
	"errors"
	"net"
	"os"
)

// SocketPair is not used where there are no host links (Supported).
func SocketPair() (*os.File, net.Conn, error) {
	return nil, nil, errors.New("plugin: no host link on this platform")
}

// Supported says whether plugins get a host link on this platform: not
// here, where a child inherits no extra descriptor. The channel then uses
// go-plugin's AutoMTLS, and the plugin watches its parent process only.
const Supported = false
