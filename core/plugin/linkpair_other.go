//go:build !unix

package plugin

import (
	"errors"
	"net"
	"os"
)

// socketPair is not used where there are no host links (hostLinks).
func socketPair() (*os.File, net.Conn, error) {
	return nil, nil, errors.New("plugin: no host link on this platform")
}
