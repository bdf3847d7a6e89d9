//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// Run reports errors.ErrUnsupported: the load generator is built on epoll.
func Run(cfg Config) (Result, error) {
	return Result{}, errors.ErrUnsupported
}

// Hold reports errors.ErrUnsupported.
func Hold(cfg Config, d time.Duration) (int, error) { return 0, errors.ErrUnsupported }
