package spawn

import "golang.org/x/sys/unix"

// dirFlags opens a directory of a plugin's path without following a link:
// O_PATH needs only search permission on it.
const dirFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
