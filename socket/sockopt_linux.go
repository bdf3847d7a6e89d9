//go:build linux

package socket

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func errnoError(v int) error { return syscall.Errno(v) }

// GetsockoptInt wraps getsockopt(2) for an int option.
//
// Python: socket.socket.getsockopt(level, optname).
func (s *Socket) GetsockoptInt(level, opt int) (int, error) {
	var v int
	err := s.control("getsockopt", nil, func(fd int) (err error) {
		v, err = unix.GetsockoptInt(fd, level, opt)
		return os.NewSyscallError("getsockopt", err)
	})
	return v, err
}

// SetsockoptInt wraps setsockopt(2) for an int option.
//
// Python: socket.socket.setsockopt(level, optname, value).
func (s *Socket) SetsockoptInt(level, opt, value int) error {
	return s.control("setsockopt", nil, func(fd int) error {
		return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, level, opt, value))
	})
}

// GetsockoptBytes wraps getsockopt(2) for an option read as up to buflen
// bytes (0 to 1 MiB), and returns the bytes the kernel wrote, exactly: a
// struct-valued option (SO_LINGER, SO_PEERCRED, SO_RCVTIMEO...) comes back
// with its zero bytes, and a string option (TCP_CONGESTION,
// SO_BINDTODEVICE) with the NUL padding the kernel wrote. A buflen shorter
// than the option gives what the kernel wrote into it, as in C. Decode the
// bytes with encoding/binary.NativeEndian, or use a typed getter (Linger,
// PeerCred, TCPInfo...). A buflen out of range is an error matching
// syscall.EINVAL.
//
// Python: socket.socket.getsockopt(level, optname, buflen), which allows
// buflen 1 to 1024.
func (s *Socket) GetsockoptBytes(level, opt, buflen int) ([]byte, error) {
	if buflen < 0 || buflen > 1<<20 {
		return nil, s.opErr("getsockopt", nil, os.NewSyscallError("getsockopt", unix.EINVAL))
	}
	b := make([]byte, buflen)
	n := uint32(buflen)
	err := s.control("getsockopt", nil, func(fd int) error {
		var p unsafe.Pointer
		if buflen > 0 {
			p = unsafe.Pointer(&b[0])
		}
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
			uintptr(p), uintptr(unsafe.Pointer(&n)), 0)
		if e != 0 {
			return os.NewSyscallError("getsockopt", e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b[:min(int(n), buflen)], nil
}

// SetsockoptBytes wraps setsockopt(2) for an option given as bytes.
//
// Python: socket.socket.setsockopt(level, optname, bytes).
func (s *Socket) SetsockoptBytes(level, opt int, value []byte) error {
	return s.control("setsockopt", nil, func(fd int) error {
		return os.NewSyscallError("setsockopt", unix.SetsockoptString(fd, level, opt, string(value)))
	})
}

func (s *Socket) setLinger(on bool, secs int) error {
	l := unix.Linger{Onoff: int32(boolInt(on)), Linger: int32(secs)}
	return s.control("setsockopt", nil, func(fd int) error {
		return os.NewSyscallError("setsockopt", unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l))
	})
}

func (s *Socket) linger() (bool, int, error) {
	var l *unix.Linger
	err := s.control("getsockopt", nil, func(fd int) (err error) {
		l, err = unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
		return os.NewSyscallError("getsockopt", err)
	})
	if err != nil {
		return false, 0, err
	}
	return l.Onoff != 0, int(l.Linger), nil
}

// PeerCred reads SO_PEERCRED: the process at the other end of a connected
// AF_UNIX socket, as it was when it connected.
func (s *Socket) PeerCred() (Ucred, error) {
	var u *unix.Ucred
	err := s.control("getsockopt", nil, func(fd int) (err error) {
		u, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		return os.NewSyscallError("getsockopt", err)
	})
	if err != nil {
		return Ucred{}, err
	}
	return Ucred{Pid: u.Pid, Uid: u.Uid, Gid: u.Gid}, nil
}

// TCPInfo reads TCP_INFO: the kernel's statistics for a TCP connection (RTT,
// retransmits, congestion window...). Linux only.
func (s *Socket) TCPInfo() (*unix.TCPInfo, error) {
	var ti *unix.TCPInfo
	err := s.control("getsockopt", nil, func(fd int) (err error) {
		ti, err = unix.GetsockoptTCPInfo(fd, unix.SOL_TCP, unix.TCP_INFO)
		return os.NewSyscallError("getsockopt", err)
	})
	return ti, err
}
