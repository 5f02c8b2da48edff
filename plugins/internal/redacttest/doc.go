// Package redacttest holds the test that every plugin keeps passwords and
// tokens out of what it logs and the errors it returns: malformed
// addresses, unreachable servers, refused credentials and lost connections.
// It has no code of its own.
package redacttest
