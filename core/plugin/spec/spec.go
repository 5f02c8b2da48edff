// Package spec says what names a plugin and its settings, apart from the
// machinery that starts, verifies and talks to one (package plugin): the
// kinds, the "<kind>/<name>" rule and binary names, strict settings
// decoding, and the errors a host reports about a plugin's binary.
//
// It depends on the standard library and package lock only, so code that
// must describe plugins without being able to run them (a resolver built
// with the micro_noplugins tag, for instance) links none of go-plugin or
// gRPC. Package plugin re-exports every name here; use those.
package spec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/seedmicro/micro/core/plugin/lock"
)

// Kind is the core interface a plugin implements. A plugin binary serves
// exactly one kind.
type Kind string

// The kinds of plugin.
const (
	KindBroker   Kind = "broker"
	KindRegistry Kind = "registry"
	KindStore    Kind = "store"
)

// Kinds returns every kind, sorted.
func Kinds() []Kind { return []Kind{KindBroker, KindRegistry, KindStore} }

// Valid reports whether k is one of the kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindBroker, KindRegistry, KindStore:
		return true
	}
	return false
}

// ErrChecksumMismatch is returned when a plugin binary does not have the
// checksum it is pinned to. The binary was not started.
var ErrChecksumMismatch = errors.New("plugin: checksum mismatch")

// ErrNotInstalled is matched (errors.Is) by the error of opening a plugin
// whose binary is not in the plugin directory.
var ErrNotInstalled = errors.New("plugin: not installed")

// BinaryName returns the file name of the binary of the plugin name,
// "<kind>/<name>": micro-plugin-<kind>-<name>, with ".exe" on Windows
// (lock.BinaryName). It returns an error if name is not of that form or its
// kind is unknown.
func BinaryName(name string) (string, error) {
	kind, _, _ := strings.Cut(name, "/")
	if !lock.ValidName(name) || !Kind(kind).Valid() {
		return "", fmt.Errorf("plugin: invalid plugin name %q: want <kind>/<name>, such as broker/rabbitmq, of kind broker, registry or store", name)
	}
	return lock.BinaryName(name), nil
}
