//go:build !unix

package install

import "context"

func lockDir(context.Context, string, func(int)) (func(), error) { return func() {}, nil }

func tryLockDir(string) (func(), bool) { return func() {}, true }

func processGone(int) bool { return false }
