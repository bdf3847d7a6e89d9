//go:build linux

package socket

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/sockhook"
)

// New wraps socket(2): it creates a socket of family f, type t and protocol
// p (0 picks the family's default). The socket is always created
// SOCK_NONBLOCK|SOCK_CLOEXEC and registered with the Go runtime poller. It
// starts in blocking mode with DefaultTimeout, or, when t has
// SOCK_NONBLOCK, in non-blocking mode (as SetBlocking(false)), as Python's
// socket does; SOCK_CLOEXEC in t changes nothing. Type returns t without
// the flags.
//
// Errors match the errno: syscall.EPERM for SOCK_RAW without CAP_NET_RAW,
// syscall.ESOCKTNOSUPPORT for SOCK_RDM, syscall.EAFNOSUPPORT for a family
// the kernel lacks. Their message says what is missing.
//
// Python: socket.socket(family, type, proto).
func New(f Family, t Type, p Protocol) (*Socket, error) {
	nonblock := t&SOCK_NONBLOCK != 0
	t &^= typeFlags
	fd, err := sysSocket(int(f), int(t|typeFlags), int(p))
	if err != nil {
		return nil, socketErr(f, t, p, err)
	}
	s, err := newSocket(fd, f, t, p)
	if err == nil && nonblock {
		s.SetBlocking(false)
	}
	return s, err
}

func sysSocket(domain, typ, proto int) (int, error) {
	if err := sockhook.Check(sockhook.Socket, -1); err != nil {
		return -1, err
	}
	for {
		fd, err := unix.Socket(domain, typ, proto)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// socketErr builds the error of a failed socket(2) or socketpair(2), with an
// explanation of what the kernel or the process lacks.
func socketErr(f Family, t Type, p Protocol, err error) error {
	return socketErrNamed("socket", f, t, p, err)
}

func socketErrNamed(name string, f Family, t Type, p Protocol, err error) error {
	var e error = os.NewSyscallError(name, err)
	switch err {
	case unix.EPERM, unix.EACCES:
		if t == SOCK_RAW || f == AF_PACKET {
			e = withHint(e, t.String()+" sockets need root or CAP_NET_RAW")
		}
	case unix.ESOCKTNOSUPPORT, unix.EPROTONOSUPPORT, unix.EOPNOTSUPP:
		switch {
		case t == SOCK_RDM:
			e = withHint(e, "SOCK_RDM (reliable datagrams) is provided only by the TIPC (AF_TIPC) and RDS (AF_RDS) families; "+f.String()+" has no SOCK_RDM")
		case t == SOCK_RAW && (f == AF_INET || f == AF_INET6) && p == 0:
			e = withHint(e, "raw IP sockets need a protocol, such as IPPROTO_ICMP or IPPROTO_RAW")
		case t == SOCK_SEQPACKET && (f == AF_INET || f == AF_INET6):
			e = withHint(e, "SOCK_SEQPACKET is available over AF_UNIX (or SCTP), not plain "+f.String())
		default:
			e = withHint(e, f.String()+" does not support "+t.String()+" with protocol "+p.String())
		}
	case unix.EAFNOSUPPORT:
		switch f {
		case AF_TIPC:
			e = withHint(e, "this kernel has no TIPC support (AF_TIPC; module tipc not available)")
		case AF_RDS:
			e = withHint(e, "this kernel has no RDS support (AF_RDS; module rds not available)")
		default:
			e = withHint(e, "this kernel does not provide "+f.String())
		}
	case unix.EINVAL:
		e = withHint(e, "invalid family, type or protocol")
	case unix.EMFILE, unix.ENFILE:
		e = withHint(e, "out of file descriptors")
	case unix.ENODEV:
		e = withHint(e, "no device for "+f.String()+" "+t.String())
	}
	return &net.OpError{Op: name, Net: f.String() + "/" + t.String(), Err: e}
}

// newSocket wraps an open non-blocking descriptor. It takes ownership of fd.
func newSocket(fd int, f Family, t Type, p Protocol) (*Socket, error) {
	file := os.NewFile(uintptr(fd), "socket:"+strconv.Itoa(fd))
	if file == nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "socket", Net: f.String(), Err: os.NewSyscallError("socket", unix.EBADF)}
	}
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, &net.OpError{Op: "socket", Net: f.String(), Err: err}
	}
	s := &Socket{file: file, rc: rc, family: f, typ: t &^ typeFlags, proto: p}
	s.fd.Store(int64(fd))
	s.sys.init(s)
	if d := defaultTimeout.Load(); d > 0 {
		s.timeout.Store(d)
	}
	return s, nil
}

// Socketpair wraps socketpair(2): it returns two connected sockets. f
// AF_UNSPEC means AF_UNIX and t 0 means SOCK_STREAM, Python's defaults.
// Linux supports pairs of AF_UNIX sockets of type SOCK_STREAM, SOCK_DGRAM and
// SOCK_SEQPACKET. As with New, SOCK_NONBLOCK in t starts both in
// non-blocking mode.
//
// Python: socket.socketpair(family, type, proto).
func Socketpair(f Family, t Type, p Protocol) (*Socket, *Socket, error) {
	if f == AF_UNSPEC {
		f = AF_UNIX
	}
	nonblock := t&SOCK_NONBLOCK != 0
	t &^= typeFlags
	if t == 0 {
		t = SOCK_STREAM
	}
	if err := sockhook.Check(sockhook.Socket, -1); err != nil {
		return nil, nil, socketErrNamed("socketpair", f, t, p, err)
	}
	fds, err := unix.Socketpair(int(f), int(t|typeFlags), int(p))
	if err != nil {
		return nil, nil, socketErrNamed("socketpair", f, t, p, err)
	}
	a, err := newSocket(fds[0], f, t, p)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := newSocket(fds[1], f, t, p)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	if nonblock {
		a.SetBlocking(false)
		b.SetBlocking(false)
	}
	return a, b, nil
}

// NewFd adopts fd, an open socket descriptor, without duplicating it: the
// Socket owns fd from then on and closes it on Close. The family, type and
// protocol are read from the kernel (SO_DOMAIN, SO_TYPE, SO_PROTOCOL), and fd
// is switched to non-blocking mode for the poller. On error, fd is left
// open and still the caller's.
//
// Python: socket.socket(fileno=fd).
func NewFd(fd int) (*Socket, error) {
	f, t, p, err := probeFd(fd)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, &net.OpError{Op: "socket", Net: "fd", Err: os.NewSyscallError("fcntl", err)}
	}
	return newSocket(fd, f, t, p)
}

func probeFd(fd int) (Family, Type, Protocol, error) {
	wrap := func(err error) error {
		var e error = os.NewSyscallError("getsockopt", err)
		if err == unix.ENOTSOCK {
			e = withHint(e, "descriptor "+strconv.Itoa(fd)+" is not a socket")
		}
		return &net.OpError{Op: "socket", Net: "fd", Err: e}
	}
	if fd < 0 {
		return 0, 0, 0, wrap(unix.EBADF)
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return 0, 0, 0, wrap(err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return 0, 0, 0, wrap(err)
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return 0, 0, 0, wrap(err)
	}
	return Family(dom), Type(typ), Protocol(proto), nil
}

// FromFd duplicates fd (with F_DUPFD_CLOEXEC) and wraps the duplicate; fd
// itself stays open and the caller's. f, t and p describe the socket; pass
// AF_UNSPEC and 0 to read them from the kernel.
//
// Python: socket.fromfd(fd, family, type, proto).
func FromFd(fd int, f Family, t Type, p Protocol) (*Socket, error) {
	pf, pt, pp, err := probeFd(fd)
	if err != nil {
		return nil, err
	}
	if f == AF_UNSPEC {
		f = pf
	}
	if t == 0 {
		t, p = pt, pp
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "fd", Err: os.NewSyscallError("fcntl", err)}
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, &net.OpError{Op: "socket", Net: "fd", Err: os.NewSyscallError("fcntl", err)}
	}
	return newSocket(nfd, f, t&^typeFlags, p)
}

// FromConn duplicates the descriptor behind c, a *net.TCPConn,
// *net.UDPConn, *net.UnixConn, *net.TCPListener, *os.File or any other
// syscall.Conn, into a new Socket. c stays open and usable; close both.
func FromConn(c syscall.Conn) (*Socket, error) {
	if isNil(c) {
		return nil, &net.OpError{Op: "socket", Net: "conn", Err: nilArg(c, "syscall.Conn")}
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "conn", Err: err}
	}
	var s *Socket
	var serr error
	if err := rc.Control(func(fd uintptr) { s, serr = FromFd(int(fd), AF_UNSPEC, 0, 0) }); err != nil {
		return nil, &net.OpError{Op: "socket", Net: "conn", Err: err}
	}
	return s, serr
}

// Dup wraps fcntl(F_DUPFD_CLOEXEC): it returns a new Socket on a duplicate
// descriptor that shares the kernel socket. The duplicate has the same
// timeout and blocking mode; closing one leaves the other open.
//
// Python: socket.socket.dup().
func (s *Socket) Dup() (*Socket, error) {
	if s == nil {
		return nil, errNilSocket("dup")
	}
	var nfd int
	var derr error
	if err := s.rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, s.opErr("dup", nil, s.pollErr(err))
	}
	if derr != nil {
		return nil, s.opErr("dup", nil, os.NewSyscallError("fcntl", derr))
	}
	d, err := newSocket(nfd, s.family, s.typ, s.proto)
	if err != nil {
		return nil, err
	}
	d.timeout.Store(s.timeout.Load())
	d.nonblock.Store(s.nonblock.Load())
	return d, nil
}

// File returns a duplicate of the descriptor as an *os.File, for handing to
// a child process (exec.Cmd.ExtraFiles), net.FileConn or net.FileListener.
// The caller closes it.
func (s *Socket) File() (*os.File, error) {
	if s == nil {
		return nil, errNilSocket("file")
	}
	var nfd int
	var derr error
	if err := s.rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, s.opErr("file", nil, s.pollErr(err))
	}
	if derr != nil {
		return nil, s.opErr("file", nil, os.NewSyscallError("fcntl", derr))
	}
	return os.NewFile(uintptr(nfd), "socket:"+strconv.Itoa(nfd)), nil
}

// Close closes the socket. Calls blocked on it in other goroutines return at
// once with an error matching net.ErrClosed; the descriptor is released when
// the last of them has returned. Close is idempotent: a second Close returns
// nil. Fd returns -1 afterwards.
//
// Python: socket.socket.close().
func (s *Socket) Close() error {
	if s == nil {
		return os.ErrInvalid
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.fd.Store(-1)
	if err := s.file.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = os.NewSyscallError("close", pe.Err)
		}
		return &net.OpError{Op: "close", Net: s.network(), Err: err}
	}
	return nil
}

// control runs fn on the descriptor, holding it open while fn runs.
func (s *Socket) control(op string, addr Sockaddr, fn func(fd int) error) error {
	if s == nil {
		return errNilSocket(op)
	}
	var ferr error
	if err := s.rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return s.opErr(op, addr, s.pollErr(err))
	}
	if ferr != nil {
		return s.opErr(op, addr, ferr)
	}
	return nil
}

// checkAddr rejects a nil address or one whose family is not the socket's.
func (s *Socket) checkAddr(op string, addr Sockaddr) error {
	if isNilAddr(addr) {
		return s.opErr(op, nil, &AddrError{Addr: "<nil>", Family: s.family, Reason: "nil address", Err: syscall.EINVAL})
	}
	if s.closed.Load() {
		return s.opErr(op, nil, ErrClosed)
	}
	if f := addr.Family(); f != s.family && f != AF_UNSPEC {
		return s.opErr(op, nil, &AddrError{Addr: addr.String(), Family: f,
			Reason: "address family " + f.String() + " does not match the socket's " + s.family.String(),
			Err:    syscall.EAFNOSUPPORT})
	}
	return nil
}

// Bind wraps bind(2): it assigns the local address. Binding a port below
// the first unprivileged one (IPPORT_RESERVED, unless the sysctl
// net.ipv4.ip_unprivileged_port_start of the network namespace moves it)
// without privilege fails with an error matching syscall.EACCES that says
// so, with the threshold in force.
//
// Python: socket.socket.bind(address).
func (s *Socket) Bind(addr Sockaddr) error {
	if s == nil {
		return errNilSocket("bind")
	}
	if err := s.checkAddr("bind", addr); err != nil {
		return err
	}
	var rsa unix.RawSockaddrAny
	n, err := encodeSockaddr(addr, &rsa)
	if err != nil {
		return s.opErr("bind", addr, err)
	}
	defer s.forgetAddrs()
	return s.control("bind", addr, func(fd int) error {
		if err := sockhook.Check(sockhook.Bind, fd); err != nil {
			return os.NewSyscallError("bind", err)
		}
		_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(n))
		if e == 0 {
			return nil
		}
		var err error = os.NewSyscallError("bind", e)
		if ap, ok := AddrPortOf(addr); ok && e == unix.EACCES && ap.Port() > 0 {
			if start := unprivilegedPortStart(); int(ap.Port()) < start {
				err = withHint(err, "ports below "+strconv.Itoa(start)+
					" (net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE")
			}
		}
		if e == unix.EADDRINUSE {
			err = withHint(err, addr.String()+" is already in use")
		}
		return err
	})
}

// Listen wraps listen(2): it makes a stream socket accept connections,
// queuing up to backlog not yet accepted. A negative backlog counts as 0;
// the kernel caps it at net.core.somaxconn, and a backlog past the C int
// the kernel takes counts as the largest int (where Python raises
// OverflowError) rather than wrapping around. Python's default is
// DefaultBacklog.
//
// Python: socket.socket.listen(backlog).
func (s *Socket) Listen(backlog int) error {
	backlog = min(max(backlog, 0), math.MaxInt32)
	return s.control("listen", nil, func(fd int) error {
		if err := sockhook.Check(sockhook.Listen, fd); err != nil {
			return os.NewSyscallError("listen", err)
		}
		return os.NewSyscallError("listen", unix.Listen(fd, backlog))
	})
}

// Accept wraps accept4(2): it waits for a connection and returns a new
// socket for it and the peer's address. The new socket is non-blocking
// underneath, close-on-exec, and starts in blocking mode with
// DefaultTimeout, as in Python (not with the listener's timeout).
// ECONNABORTED and EINTR are retried, as the net package does.
//
// Python: socket.socket.accept().
func (s *Socket) Accept() (*Socket, Sockaddr, error) {
	if s == nil {
		return nil, nil, errNilSocket("accept")
	}
	s.armRead()
	return s.accept()
}

// AcceptContext is Accept bounded by ctx: it returns ctx.Err() if ctx ends
// first.
func (s *Socket) AcceptContext(ctx context.Context) (*Socket, Sockaddr, error) {
	var c *Socket
	var sa Sockaddr
	err := s.withContext(ctx, "accept", false, func() (err error) {
		c, sa, err = s.accept()
		return err
	})
	return c, sa, err
}

// Connect wraps connect(2): it connects to addr and waits until the
// connection is established or fails. In non-blocking mode it returns an
// error matching syscall.EINPROGRESS instead of waiting. The timeout and
// write deadline bound the wait.
//
// Python: socket.socket.connect(address).
func (s *Socket) Connect(addr Sockaddr) error {
	if s == nil {
		return errNilSocket("connect")
	}
	s.armWrite()
	errno, err := s.connect(addr, nil)
	if err == nil && errno != 0 {
		err = s.opErr("connect", addr, os.NewSyscallError("connect", errno))
	}
	return err
}

// ConnectContext is Connect bounded by ctx.
func (s *Socket) ConnectContext(ctx context.Context, addr Sockaddr) error {
	return s.withContext(ctx, "connect", true, func() error {
		errno, err := s.connect(addr, ctx)
		if err == nil && errno != 0 {
			err = s.opErr("connect", addr, os.NewSyscallError("connect", errno))
		}
		return err
	})
}

// ConnectEx is Connect that reports connect(2)'s errno instead of failing:
// 0 on success, syscall.ECONNREFUSED for a closed port, syscall.EINPROGRESS
// on a non-blocking socket, then syscall.EALREADY while that connection is
// still in progress, and syscall.EISCONN on a socket already connected. err is non-nil only for failures that are not
// connect(2)'s: a bad address, a closed socket, or a timeout (an error
// matching os.ErrDeadlineExceeded; Python returns EWOULDBLOCK there).
//
// Python: socket.socket.connect_ex(address).
func (s *Socket) ConnectEx(addr Sockaddr) (syscall.Errno, error) {
	if s == nil {
		return 0, errNilSocket("connect")
	}
	s.armWrite()
	return s.connect(addr, nil)
}

// connect runs connect(2) and, in blocking mode, waits for it to finish.
// It returns connect's errno, or an error for everything else.
func (s *Socket) connect(addr Sockaddr, ctx context.Context) (syscall.Errno, error) {
	if err := s.checkAddr("connect", addr); err != nil {
		return 0, err
	}
	var rsa unix.RawSockaddrAny
	n, err := encodeSockaddr(addr, &rsa)
	if err != nil {
		return 0, s.opErr("connect", addr, err)
	}
	s.forgetAddrs()
	nonblock := s.nonblock.Load()
	var errno syscall.Errno
	started := false
	backoff := time.Millisecond
	werr := s.rc.Write(func(fd uintptr) bool {
		if !started {
			if e := sockhook.Check(sockhook.Connect, int(fd)); e != nil {
				errno, _ = e.(syscall.Errno)
				if errno == 0 {
					errno = unix.EIO
				}
				return true
			}
			for {
				_, _, e := unix.Syscall(unix.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(n))
				switch e {
				case unix.EINTR:
					// The connection goes on in the background; wait for it below.
				case unix.EAGAIN:
					// AF_UNIX with a full backlog. Blocking mode waits for room by
					// retrying: an unconnected socket is always "writable".
					if nonblock || s.family != AF_UNIX {
						errno = e
						return true
					}
					if ctx != nil && ctx.Err() != nil {
						errno = e
						return true
					}
					if dl := s.wdl.Load(); dl != 0 && time.Now().UnixNano() > dl {
						errno = e
						return true
					}
					time.Sleep(backoff)
					if backoff < 50*time.Millisecond {
						backoff *= 2
					}
					continue
				case 0:
					errno = 0
					return true
				case unix.EALREADY:
					// An earlier non-blocking connect is still in progress:
					// non-blocking mode says so, as connect(2) and Python's
					// connect_ex do (114); blocking mode waits for it.
					if nonblock {
						errno = e
						return true
					}
				case unix.EINPROGRESS:
				default: // EISCONN (106) included: the socket was already connected
					errno = e
					return true
				}
				break
			}
			started = true
			if nonblock {
				errno = unix.EINPROGRESS
				return true
			}
			return false // wait until writable
		}
		// Woken: connect finished, or the wake-up was spurious (epoll reports
		// a socket registered before connect as writable at once).
		soerr, gerr := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr != nil {
			errno, _ = gerr.(syscall.Errno)
			return true
		}
		switch e := syscall.Errno(soerr); e {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case 0:
			// Ask connect(2) again: EALREADY while the handshake goes on;
			// 0 once it is done, which also marks the socket connected in
			// the kernel, so that a later connect reports EISCONN as after
			// a blocking connect(2) (EISCONN here means the same success).
			_, _, e := unix.Syscall(unix.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(n))
			switch e {
			case unix.EALREADY, unix.EINPROGRESS, unix.EINTR:
				return false // not connected yet
			case 0, unix.EISCONN:
				errno = 0
			default:
				errno = e
			}
			return true
		default:
			errno = e
			return true
		}
	})
	if werr != nil {
		return 0, s.opErr("connect", addr, s.pollErr(werr))
	}
	return errno, nil
}

// Getsockname wraps getsockname(2): it returns the local address, such as
// the port the kernel chose for port 0.
//
// Python: socket.socket.getsockname().
func (s *Socket) Getsockname() (Sockaddr, error) {
	if s == nil {
		return nil, errNilSocket("getsockname")
	}
	return s.name(unix.SYS_GETSOCKNAME, "getsockname")
}

// Getpeername wraps getpeername(2): it returns the address of the connected
// peer, or an error matching syscall.ENOTCONN.
//
// Python: socket.socket.getpeername().
func (s *Socket) Getpeername() (Sockaddr, error) {
	if s == nil {
		return nil, errNilSocket("getpeername")
	}
	return s.name(unix.SYS_GETPEERNAME, "getpeername")
}

func (s *Socket) name(trap uintptr, call string) (Sockaddr, error) {
	if s.closed.Load() {
		return nil, &net.OpError{Op: call, Net: s.network(), Err: ErrClosed}
	}
	var rsa unix.RawSockaddrAny
	var sa Sockaddr
	var ferr error
	err := s.rc.Control(func(fd uintptr) {
		n := uint32(sizeofSockaddrAny)
		_, _, e := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
		if e != 0 {
			ferr = os.NewSyscallError(call, e)
			return
		}
		sa, ferr = decodeSockaddr(&rsa, n)
		if sa == nil && ferr == nil && s.family == AF_UNIX {
			sa = &UnixAddr{}
		}
	})
	if err != nil {
		return nil, &net.OpError{Op: call, Net: s.network(), Err: s.pollErr(err)}
	}
	if ferr != nil {
		return nil, &net.OpError{Op: call, Net: s.network(), Err: ferr}
	}
	return sa, nil
}

// Shutdown wraps shutdown(2): it closes one or both halves of a connection.
// After SHUT_WR the peer reads end-of-stream while this side can still
// receive.
//
// Python: socket.socket.shutdown(how).
func (s *Socket) Shutdown(how ShutdownHow) error {
	if how < SHUT_RD || how > SHUT_RDWR {
		return s.opErr("shutdown", nil, os.NewSyscallError("shutdown", unix.EINVAL))
	}
	return s.control("shutdown", nil, func(fd int) error {
		return os.NewSyscallError("shutdown", unix.Shutdown(fd, int(how)))
	})
}

// CloseRead is Shutdown(SHUT_RD), as on *net.TCPConn.
func (s *Socket) CloseRead() error { return s.Shutdown(SHUT_RD) }

// CloseWrite is Shutdown(SHUT_WR), as on *net.TCPConn: the peer reads EOF.
func (s *Socket) CloseWrite() error { return s.Shutdown(SHUT_WR) }

// unprivilegedPortStart is the first port a process without
// CAP_NET_BIND_SERVICE may bind in this network namespace: the sysctl
// net.ipv4.ip_unprivileged_port_start (which applies to IPv6 too), or
// IPPORT_RESERVED if it cannot be read. It is read on a failed bind only.
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return IPPORT_RESERVED
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return IPPORT_RESERVED
	}
	return n
}
