//go:build !unix

package spawn

import "io/fs"

// Plugins listen on TCP here: there is no socket directory.
const socketsSupported = false

func processAlive(int) bool { return true }

func ownerOf(fs.FileInfo) (int, bool) { return 0, false }
