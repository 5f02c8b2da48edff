// Package errors defines the typed errors that travel between micro clients
// and servers. Every error carries a Code; a server error reaches the client
// with the same code and message, and works with the standard library's
// errors.Is and errors.As.
package errors

import (
	"context"
	stderrors "errors"
	"fmt"
	"strconv"
)

// Code classifies an error. The values and their meanings follow the codes
// used across RPC systems, so that they map one to one onto other protocols.
type Code uint32

// The codes. OK is the zero value and means "no error".
const (
	OK Code = iota
	Canceled
	Unknown
	InvalidArgument
	DeadlineExceeded
	NotFound
	AlreadyExists
	PermissionDenied
	ResourceExhausted
	FailedPrecondition
	Aborted
	OutOfRange
	Unimplemented
	Internal
	Unavailable
	DataLoss
	Unauthenticated
	maxCode
)

var codeNames = [...]string{
	OK:                 "ok",
	Canceled:           "canceled",
	Unknown:            "unknown",
	InvalidArgument:    "invalid_argument",
	DeadlineExceeded:   "deadline_exceeded",
	NotFound:           "not_found",
	AlreadyExists:      "already_exists",
	PermissionDenied:   "permission_denied",
	ResourceExhausted:  "resource_exhausted",
	FailedPrecondition: "failed_precondition",
	Aborted:            "aborted",
	OutOfRange:         "out_of_range",
	Unimplemented:      "unimplemented",
	Internal:           "internal",
	Unavailable:        "unavailable",
	DataLoss:           "data_loss",
	Unauthenticated:    "unauthenticated",
}

// String returns the code's snake_case name, e.g. "not_found".
func (c Code) String() string {
	if c < maxCode {
		return codeNames[c]
	}
	return "code_" + strconv.FormatUint(uint64(c), 10)
}

// ParseCode turns a name produced by Code.String back into a Code.
func ParseCode(s string) (Code, bool) {
	for i, n := range codeNames {
		if n == s {
			return Code(i), true
		}
	}
	return Unknown, false
}

// Error is an error with a Code. Create one with New or Errorf.
type Error struct {
	code    Code
	message string
	cause   error
}

// New returns an error with the given code and message.
func New(code Code, message string) *Error {
	return &Error{code: code, message: message}
}

// Errorf returns an error with the given code and a formatted message. A %w
// verb wraps its operand, which errors.Is and errors.As then find.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{code: code, message: err.Error(), cause: stderrors.Unwrap(err)}
}

// Wrap returns an error with the given code whose message and chain are err's.
// It returns nil when err is nil.
func Wrap(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &Error{code: code, message: err.Error(), cause: err}
}

// Code returns the error's code.
func (e *Error) Code() Code { return e.code }

// Message returns the error's message without the code prefix.
func (e *Error) Message() string { return e.message }

// Error implements the error interface: "<code>: <message>".
func (e *Error) Error() string {
	if e.message == "" {
		return e.code.String()
	}
	return e.code.String() + ": " + e.message
}

// Unwrap returns the wrapped cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code. This makes
// errors.Is(err, errors.New(errors.NotFound, "")) a test of the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code && (t.message == "" || t.message == e.message)
}

// CodeOf returns the code of err: OK for nil, the code of the first *Error in
// its chain, DeadlineExceeded or Canceled for the context errors, and Unknown
// for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if stderrors.As(err, &e) {
		return e.code
	}
	switch {
	case stderrors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case stderrors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}

// FromContext converts a context error into an *Error with the matching code.
func FromContext(err error) error {
	switch {
	case err == nil:
		return nil
	case stderrors.Is(err, context.DeadlineExceeded):
		return &Error{code: DeadlineExceeded, message: "deadline exceeded", cause: err}
	case stderrors.Is(err, context.Canceled):
		return &Error{code: Canceled, message: "canceled", cause: err}
	}
	return err
}
