//go:build linux

package eventloop

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probeIOUring tries, once, everything the io_uring backend relies on and
// says in one sentence what fails first.
func probeIOUring() error {
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	no := func(format string, args ...any) error {
		return &uringUnavailable{fmt.Sprintf(format, args...)}
	}
	disabled := ""
	if b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil {
		disabled = strings.TrimSpace(string(b))
	}
	if disabled == "2" {
		return no("io_uring is disabled on this system (sysctl kernel.io_uring_disabled = 2)")
	}
	// The ring's thread is its only submitter: the probe's too.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := newRing(8, 16)
	if err != nil {
		var mf *missingFeature
		switch {
		case errors.As(err, &mf):
			return no("Linux %s lacks %s", kernel, mf.name)
		case errors.Is(err, unix.ENOSYS):
			return no("io_uring_setup(2) fails with ENOSYS: Linux %s was built without io_uring, or a seccomp filter hides it", kernel)
		case errors.Is(err, unix.EPERM) && disabled == "1":
			return no("io_uring is limited to the group named by kernel.io_uring_group (sysctl kernel.io_uring_disabled = 1), and this process is not in it")
		case errors.Is(err, unix.EPERM):
			return no("io_uring_setup(2) is refused with EPERM, as a seccomp filter refuses it (Docker's default profile blocks io_uring)")
		case errors.Is(err, unix.EINVAL):
			return no("Linux %s refuses io_uring_setup(2) with IORING_SETUP_SINGLE_ISSUER and IORING_SETUP_DEFER_TASKRUN (Linux 6.1 or later is needed)", kernel)
		}
		return no("io_uring_setup(2) with the backend's flags fails on Linux %s: %v", kernel, err)
	}
	defer r.close()
	ops, err := r.probeOps()
	if err != nil {
		return no("io_uring cannot list its opcodes on Linux %s (IORING_REGISTER_PROBE: %v)", kernel, err)
	}
	for _, op := range []struct {
		op   uint8
		name string
	}{{iorOpAccept, "IORING_OP_ACCEPT"}, {iorOpRecv, "IORING_OP_RECV"}, {iorOpSend, "IORING_OP_SEND"}, {iorOpSendmsg, "IORING_OP_SENDMSG"}, {iorOpRead, "IORING_OP_READ"}, {iorOpAsyncCancel, "IORING_OP_ASYNC_CANCEL"}} {
		if !ops[op.op] {
			return no("Linux %s lacks %s", kernel, op.name)
		}
	}
	if err := probeMultishotRecv(r); err != nil {
		return no("a multishot receive from a provided-buffer ring does not work on Linux %s (6.0 or later is needed): %v", kernel, err)
	}
	return nil
}

// probeMultishotRecv arms a multishot receive on a socket pair, sends it
// a byte, and checks that the completion came with a provided buffer and
// the request still armed; then it cancels the receive and waits for its
// last completion, so that nothing points at the buffers it unmaps.
func probeMultishotRecv(r *ring) error {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	br, err := newBufRing(r, 0, 2, 64, false)
	if err != nil {
		return err
	}
	armed := true
	defer func() {
		if !armed {
			br.unmap()
		} // else the kernel may still write into the buffers: leave them mapped
	}()
	e := r.sqe()
	prepRecvMultishot(e, int32(sp[0]), 0, 1)
	if _, err := unix.Write(sp[1], []byte{'x'}); err != nil {
		return os.NewSyscallError("write", err)
	}
	var got *uringCQE
	for i := 0; i < 10 && got == nil; i++ {
		if err := r.enter(true, 1000); err != nil {
			return err
		}
		for r.ready() > 0 {
			c := r.cqes[r.head&r.cqMask]
			r.advance()
			if c.flags&iorCQEFMore == 0 {
				armed = false
			}
			if got == nil {
				got = &c
			}
		}
	}
	switch {
	case got == nil:
		return errors.New("no completion within 10 s")
	case got.res < 0:
		return os.NewSyscallError("recv", unix.Errno(-got.res))
	case got.res != 1 || got.flags&iorCQEFBuffer == 0 || got.flags&iorCQEFMore == 0:
		return fmt.Errorf("completion res %d flags %#x, want 1 byte in a provided buffer and the request still armed", got.res, got.flags)
	}
	if b := br.buf(uint16(got.flags>>iorCQEBufferShft), 1); b[0] != 'x' {
		return fmt.Errorf("the provided buffer holds %q, want \"x\"", b)
	}
	c := r.sqe()
	prepCancel(c, 0, 0, iorCancelAny|iorCancelAll, 0)
	for i := 0; i < 10 && armed; i++ {
		if err := r.enter(true, 1000); err != nil {
			return err
		}
		for r.ready() > 0 {
			c := r.cqes[r.head&r.cqMask]
			r.advance()
			if c.userData == 1 && c.flags&iorCQEFMore == 0 {
				armed = false
			}
		}
	}
	if armed {
		return errors.New("the receive could not be canceled")
	}
	return nil
}

// The requests the engine makes, each filling a zeroed SQE.

// prepRecvMultishot: receive into buffers of group bgid for as long as the
// connection lasts (IORING_RECV_MULTISHOT, IOSQE_BUFFER_SELECT).
func prepRecvMultishot(e *uringSQE, fd int32, bgid uint16, ud uint64) {
	e.opcode = iorOpRecv
	e.fd = fd
	e.ioprio = iorRecvMultishot
	e.flags = iosqeBufferSelect
	e.bufGroup = bgid
	e.userData = ud
}

// prepAcceptMultishot: accept connections for as long as the listener
// lasts, each non-blocking and close-on-exec.
func prepAcceptMultishot(e *uringSQE, fd int32, ud uint64) {
	e.opcode = iorOpAccept
	e.fd = fd
	e.ioprio = iorAcceptMultishot
	e.opFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	e.userData = ud
}

// prepSend: send b, all of it (MSG_WAITALL: the kernel retries a short
// send of a stream socket itself), without SIGPIPE. b must stay where it
// is until the completion: it lives out of the Go heap.
func prepSend(e *uringSQE, fd int32, b []byte, ud uint64) {
	e.opcode = iorOpSend
	e.fd = fd
	e.addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	e.len = uint32(len(b))
	e.opFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
	e.userData = ud
}

// prepSendmsg: sendmsg(2) of m's iovec, all of it (MSG_WAITALL), without
// SIGPIPE. The msghdr and the iovec need to stay only until the enter
// that submits the request returns; the buffers they point to, until the
// completion.
func prepSendmsg(e *uringSQE, fd int32, m *unix.Msghdr, ud uint64) {
	e.opcode = iorOpSendmsg
	e.fd = fd
	e.addr = uint64(uintptr(unsafe.Pointer(m)))
	e.len = 1
	e.opFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
	e.userData = ud
}

// prepRead: read(2) into b, which lives out of the Go heap.
func prepRead(e *uringSQE, fd int32, b []byte, ud uint64) {
	e.opcode = iorOpRead
	e.fd = fd
	e.addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	e.len = uint32(len(b))
	e.off = ^uint64(0) // no offset: the file position (an eventfd has none)
	e.userData = ud
}

// prepCancel: cancel the requests that match target (a user_data) or fd,
// as flags say.
func prepCancel(e *uringSQE, target uint64, fd int32, flags uint32, ud uint64) {
	e.opcode = iorOpAsyncCancel
	e.addr = target
	e.fd = fd
	e.opFlags = flags
	e.userData = ud
}
