//go:build race

package transport_test

// raceEnabled says that the race detector is on: sync.Pool then drops a
// part of what it is given, on purpose, so reuse is only partial.
const raceEnabled = true
