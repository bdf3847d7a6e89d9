//go:build linux

package socketserver

import (
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setWorkerAttrs makes the kernel send the worker SIGTERM if the parent
// dies, so that no worker outlives its supervisor, and puts it in a
// process group of its own, so that a terminal's SIGINT (Ctrl-C) reaches
// the parent only: a worker stops when its parent tells it to.
func setWorkerAttrs(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	cmd.SysProcAttr.Setpgid = true
}

// sharedPage is a worker's counters, in a page of memory (memfd_create(2),
// mmap(2) MAP_SHARED) that the parent maps too: the worker counts, the
// parent reads, with atomic operations on both sides.
type sharedPage struct {
	counters
	ask atomic.Uint32 // askShutdown or askClose: a handler stopped the server

	mem []byte
}

const sharedPageSize = 4096

func init() {
	if unsafe.Sizeof(sharedPage{}) > sharedPageSize {
		panic("socketserver: prefork counters do not fit a page")
	}
}

// newSharedPage makes a worker's page and the file to hand it down, or
// nil, nil if the kernel will not.
func newSharedPage() (*sharedPage, *os.File) {
	fd, err := unix.MemfdCreate("socketkit-prefork-stats", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil
	}
	f := os.NewFile(uintptr(fd), "prefork-stats")
	page, err := mapPage(fd)
	if err != nil {
		f.Close()
		return nil, nil
	}
	return page, f
}

// mapSharedPage maps the page a worker inherited at fd, and closes fd.
func mapSharedPage(fd int) (*sharedPage, error) {
	defer unix.Close(fd)
	return mapPage(fd)
}

func mapPage(fd int) (*sharedPage, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	if st.Size < sharedPageSize {
		if err := unix.Ftruncate(fd, sharedPageSize); err != nil {
			return nil, os.NewSyscallError("ftruncate", err)
		}
	}
	mem, err := unix.Mmap(fd, 0, sharedPageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	// The page holds only atomics (no Go pointers), so it may live outside
	// the Go heap; the mem slice keeps it for unmap.
	page := (*sharedPage)(unsafe.Pointer(&mem[0]))
	page.mem = mem
	return page, nil
}

// unmap releases the parent's mapping of an exited worker's page.
func (p *sharedPage) unmap() {
	if p == nil {
		return
	}
	mem := p.mem
	p.mem = nil
	unix.Munmap(mem)
}

// startControl opens the pipe on which workers' handlers ask the parent to
// stop: it returns the asks read from it, the write end to hand down, and
// a function that closes both ends once the workers are gone.
func startControl() (<-chan uint32, *os.File, func()) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, func() {}
	}
	asks := make(chan uint32, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		for {
			if _, err := r.Read(b[:]); err != nil {
				return
			}
			select {
			case asks <- uint32(b[0]):
			default: // one pending ask is enough
			}
		}
	}()
	return asks, w, func() {
		w.Close()
		r.Close()
		<-done
	}
}
