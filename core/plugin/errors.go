package plugin

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/registry"
	"github.com/seedmicro/micro/core/store"
)

// sentinel pairs an error of a core interface with the status code it
// travels as. The tables below are the whole mapping; proto/plugin.proto
// documents it for implementers in other languages.
type sentinel struct {
	err  error
	code codes.Code
}

var (
	registrySentinels = []sentinel{
		{registry.ErrNotFound, codes.NotFound},
		{registry.ErrWatcherStopped, codes.OutOfRange},
	}
	brokerSentinels = []sentinel{
		{broker.ErrClosed, codes.FailedPrecondition},
	}
	storeSentinels = []sentinel{
		{store.ErrNotFound, codes.NotFound},
	}
)

// errNotConfigured answers a call that comes before Configure.
var errNotConfigured = status.Error(codes.Aborted, "plugin: not configured: the host must call Plugin.Configure first")

// toStatus turns an error of an implementation into the status error the
// plugin side returns: the code of the first matching sentinel or context
// error, else Unknown; the message is always err's message.
func toStatus(err error, sentinels []sentinel) error {
	if err == nil {
		return nil
	}
	code := codes.Unknown
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			code = s.code
			break
		}
	}
	if code == codes.Unknown {
		switch {
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		}
	}
	return status.Error(code, err.Error())
}

// fromStatus turns an error of a call to the plugin back into the error the
// implementation returned, as far as it can be known: an error with the
// implementation's message that errors.Is matches with the sentinel or
// context error of its code. An error the channel caused (the plugin is
// gone, say) names the plugin. Every error but the sentinels themselves has
// a GRPCStatus method, so status.Code(err) gives its code.
//
// ctx is the call's: once it has ended, or its deadline has passed (its
// timer may not have fired yet), a call that failed as cancelled or out of
// time fails with ctx's error, as it would in process, rather than with the
// channel's words for it.
func fromStatus(ctx context.Context, err error, sentinels []sentinel, name string) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	code := st.Code()
	if code == codes.Canceled || code == codes.DeadlineExceeded {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return context.DeadlineExceeded
		}
	}
	return mapStatus(code, st.Message(), sentinels, name)
}

func mapStatus(code codes.Code, msg string, sentinels []sentinel, name string) error {
	for _, s := range sentinels {
		if s.code == code {
			return remote(code, msg, s.err)
		}
	}
	switch code {
	case codes.Canceled:
		return remote(code, msg, context.Canceled)
	case codes.DeadlineExceeded:
		return remote(code, msg, context.DeadlineExceeded)
	case codes.Unknown, codes.FailedPrecondition, codes.Aborted, codes.NotFound, codes.OutOfRange:
		// From the plugin side of the bridge, with a message that says
		// what happened.
		return &remoteError{code: code, msg: msg}
	}
	return &remoteError{code: code, msg: "plugin " + name + ": " + code.String() + ": " + msg}
}

// remote returns is itself when msg is its message (so that the common case
// allocates nothing and compares equal), else a remoteError wrapping it.
func remote(code codes.Code, msg string, is error) error {
	if msg == is.Error() {
		return is
	}
	return &remoteError{code: code, msg: msg, is: is}
}

// remoteError is an error that came back from a plugin.
type remoteError struct {
	code codes.Code
	msg  string
	is   error // the sentinel it stands for, if any
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() error { return e.is }

// GRPCStatus lets status.Code and status.FromError see the code.
func (e *remoteError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// wrapError is an error with a message of its own that errors.Is matches
// with err.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }

func (e *wrapError) Unwrap() error { return e.err }
