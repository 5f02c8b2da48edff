//go:build unix && !linux

package spawn

import "golang.org/x/sys/unix"

// dirFlags opens a directory of a plugin's path without following a link.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
