//go:build !linux

package bench

import (
	"errors"
	"time"
)

// ProcessCPU is available on Linux only; elsewhere the figures say "-".
func ProcessCPU(pid int) (time.Duration, error) {
	return 0, errors.New("process CPU time is read on Linux only")
}

// MachineCPU is available on Linux only.
func MachineCPU() (busy, steal, total time.Duration, err error) {
	return 0, 0, 0, errors.New("machine CPU time is read on Linux only")
}
