package spawn

import (
	"os"
	"path/filepath"
)

// NameProcess gives the process the name of its binary. A host on Linux
// starts a plugin through /proc/self/fd/N (exec_linux.go), which names the
// process "N" in ps and top; argv[0] is the binary's path.
func NameProcess(cookieKey string) {
	if _, ok := os.LookupEnv(cookieKey); !ok || len(os.Args) == 0 {
		return
	}
	name := filepath.Base(os.Args[0])
	if len(name) > 15 { // the kernel keeps 15 bytes
		name = name[:15]
	}
	// /proc/self/comm is the main thread's name, the process's in ps.
	_ = os.WriteFile("/proc/self/comm", []byte(name), 0)
}
