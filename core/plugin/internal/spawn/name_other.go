//go:build !linux

package spawn

// NameProcess does nothing: only on Linux is a plugin started through a
// name of its own (exec_linux.go).
func NameProcess(cookieKey string) {}
