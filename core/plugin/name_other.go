//go:build !linux

package plugin

// nameProcess does nothing: only on Linux is a plugin started through a
// name of its own (exec_linux.go).
func nameProcess() {}
