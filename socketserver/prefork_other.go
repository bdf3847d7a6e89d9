//go:build !linux

package socketserver

import (
	"errors"
	"os"
	"os/exec"
	"sync/atomic"
)

func setWorkerAttrs(cmd *exec.Cmd) {}

// sharedPage: memory is not shared with workers on this platform; the
// parent's Stats count nothing.
type sharedPage struct {
	counters
	ask atomic.Uint32
}

func newSharedPage() (*sharedPage, *os.File) { return nil, nil }

func mapSharedPage(fd int) (*sharedPage, error) {
	return nil, errors.ErrUnsupported
}

func (p *sharedPage) unmap() {}

func startControl() (<-chan uint32, *os.File, func()) { return nil, nil, func() {} }
