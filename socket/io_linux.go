//go:build linux

package socket

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/rawaddr"
	"github.com/socketkit/socketkit/internal/sockhook"
)

// The receive and send paths do not allocate. Passing a closure to
// RawConn.Read would (it escapes through the interface), so each direction
// owns one ioOp whose run method is bound to a func value once, when the
// socket is created. The op's mutex serializes callers in that direction,
// as the poller's own read and write locks would anyway; RawConn.Read and
// Write still hold the descriptor open across the system call, so a
// concurrent Close can never make us use a reused descriptor number.

type opKind uint8

const (
	opRecv opKind = iota
	opSend
	opRecvmsg
	opSendmsg
	opAccept
)

const iovInline = 4

type ioOp struct {
	mu sync.Mutex
	fn func(uintptr) bool // op.run, bound once

	kind     opKind
	nonblock bool // return EAGAIN instead of waiting
	all      bool // keep going until p is full (MSG_WAITALL) or all sent (Sendall)
	wantAddr bool
	flags    int
	p        []byte
	n        int
	errno    syscall.Errno

	rsa    unix.RawSockaddrAny
	rsaLen uint32

	msg  unix.Msghdr
	iov  [iovInline]unix.Iovec
	nfd  int
	rflg int
}

type sysState struct {
	rop, wop ioOp
}

func (st *sysState) init(s *Socket) {
	st.rop.fn = st.rop.run
	st.wop.fn = st.wop.run
}

var zeroByte byte

func bufPtr(p []byte) uintptr { return uintptr(unsafe.Pointer(bufBase(p))) }

func bufBase(p []byte) *byte {
	if len(p) == 0 {
		return &zeroByte
	}
	return &p[0]
}

func hookCall(k opKind) sockhook.Call {
	switch k {
	case opSend, opSendmsg:
		return sockhook.Send
	case opAccept:
		return sockhook.Accept
	}
	return sockhook.Recv
}

func asErrno(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return unix.EIO
}

// run makes the system call on fd. It returns false to ask the poller to
// wait for readiness and call it again, true when the operation is over.
func (op *ioOp) run(fd uintptr) bool {
	for {
		var r uintptr
		var e syscall.Errno
		if herr := sockhook.Check(hookCall(op.kind), int(fd)); herr != nil {
			e = asErrno(herr)
		} else {
			switch op.kind {
			case opRecv:
				p := op.p[op.n:]
				var addr, alen uintptr
				if op.wantAddr {
					op.rsaLen = sizeofSockaddrAny
					addr, alen = uintptr(unsafe.Pointer(&op.rsa)), uintptr(unsafe.Pointer(&op.rsaLen))
				}
				r, _, e = unix.Syscall6(unix.SYS_RECVFROM, fd, bufPtr(p), uintptr(len(p)), uintptr(op.flags), addr, alen)
			case opSend:
				p := op.p[op.n:]
				var addr uintptr
				if op.rsaLen > 0 {
					addr = uintptr(unsafe.Pointer(&op.rsa))
				}
				r, _, e = unix.Syscall6(unix.SYS_SENDTO, fd, bufPtr(p), uintptr(len(p)), uintptr(op.flags), addr, uintptr(op.rsaLen))
			case opRecvmsg:
				if op.wantAddr {
					op.msg.Name = (*byte)(unsafe.Pointer(&op.rsa))
					op.msg.Namelen = sizeofSockaddrAny
				}
				r, _, e = unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&op.msg)), uintptr(op.flags))
			case opSendmsg:
				r, _, e = unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&op.msg)), uintptr(op.flags))
			case opAccept:
				op.rsaLen = sizeofSockaddrAny
				r, _, e = unix.Syscall6(unix.SYS_ACCEPT4, fd, uintptr(unsafe.Pointer(&op.rsa)),
					uintptr(unsafe.Pointer(&op.rsaLen)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
			}
		}
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.ECONNABORTED:
			if op.kind == opAccept {
				continue // the peer gave up before we accepted: take the next one
			}
			op.errno = e
			return true
		case unix.EAGAIN:
			if op.nonblock {
				op.errno = e
				return true
			}
			return false
		default:
			op.errno = e
			return true
		}
		switch op.kind {
		case opRecv:
			op.n += int(r)
			if op.all && r > 0 && op.n < len(op.p) {
				continue
			}
		case opSend:
			op.n += int(r)
			if op.all && op.n < len(op.p) {
				continue
			}
		case opAccept:
			op.nfd = int(r)
		default:
			op.n = int(r)
			op.rflg = int(op.msg.Flags)
		}
		return true
	}
}

// syscallName is the system call each op kind makes, for errors.
func syscallName(k opKind) string {
	switch k {
	case opRecv:
		return "recvfrom"
	case opSend:
		return "sendto"
	case opRecvmsg:
		return "recvmsg"
	case opSendmsg:
		return "sendmsg"
	}
	return "accept4"
}

// Recv wraps recv(2): it receives up to len(b) bytes. It blocks until data
// arrives, the timeout or a deadline passes (an error matching
// os.ErrDeadlineExceeded), or the socket is closed (net.ErrClosed). On a
// stream socket n == 0 with a nil error means the peer shut down its side,
// as Python's recv returns b"", and a zero-length b returns (0, nil) at once.
// On SOCK_STREAM, MSG_WAITALL waits until b is full or the stream ends
// (on SOCK_SEQPACKET a call still returns one record); MSG_DONTWAIT makes
// this one call non-blocking.
//
// Python: socket.socket.recv(bufsize[, flags]) and recv_into.
func (s *Socket) Recv(b []byte, flags MsgFlag) (int, error) {
	if s == nil {
		return 0, errNilSocket("recv")
	}
	if len(b) == 0 && s.isStream() {
		if s.closed.Load() {
			return 0, s.opErr("recv", nil, ErrClosed)
		}
		return 0, nil
	}
	s.armRead()
	n, err := s.recv("recv", b, flags)
	return n, err
}

// Read implements io.Reader and net.Conn: Recv with no flags, except that
// the end of a stream is io.EOF instead of (0, nil).
func (s *Socket) Read(b []byte) (int, error) {
	if s == nil {
		return 0, errNilSocket("read")
	}
	if len(b) == 0 {
		if s.closed.Load() {
			return 0, s.opErr("read", nil, ErrClosed)
		}
		return 0, nil
	}
	s.armRead()
	n, err := s.recv("read", b, 0)
	if n == 0 && err == nil && s.isStream() {
		return 0, io.EOF
	}
	return n, err
}

// Recvfrom wraps recvfrom(2): it receives up to len(b) bytes and the
// sender's address. On a connected stream socket the address is nil. A
// datagram longer than b is truncated, as in C; use Recvmsg to see
// MSG_TRUNC.
//
// Python: socket.socket.recvfrom(bufsize[, flags]) and recvfrom_into.
func (s *Socket) Recvfrom(b []byte, flags MsgFlag) (int, Sockaddr, error) {
	if s == nil {
		return 0, nil, errNilSocket("recvfrom")
	}
	s.armRead()
	op := &s.sys.rop
	op.mu.Lock()
	n, err := s.recvLocked(op, "recvfrom", b, flags, true)
	var rsa unix.RawSockaddrAny
	rsaLen := op.rsaLen
	if err == nil && rsaLen > 0 {
		rsa = op.rsa
	}
	op.mu.Unlock()
	if err != nil || rsaLen == 0 {
		return n, nil, err
	}
	sa, derr := decodeSockaddr(&rsa, rsaLen)
	if derr != nil {
		return n, nil, s.opErr("recvfrom", nil, derr)
	}
	return n, sa, nil
}

// RecvfromAddrPort is Recvfrom for AF_INET and AF_INET6 sockets that
// returns the sender as a netip.AddrPort. It does not allocate, which makes
// it the call for busy datagram servers.
func (s *Socket) RecvfromAddrPort(b []byte, flags MsgFlag) (int, netip.AddrPort, error) {
	if s == nil {
		return 0, netip.AddrPort{}, errNilSocket("recvfrom")
	}
	s.armRead()
	op := &s.sys.rop
	op.mu.Lock()
	n, err := s.recvLocked(op, "recvfrom", b, flags, true)
	var ap netip.AddrPort
	if err == nil && op.rsaLen > 0 {
		ap = rawaddr.Decode(rawInet(&op.rsa))
	}
	op.mu.Unlock()
	return n, ap, err
}

// RecvContext is Recv bounded by ctx.
func (s *Socket) RecvContext(ctx context.Context, b []byte, flags MsgFlag) (n int, err error) {
	err = s.withContext(ctx, "recv", false, func() (err error) {
		n, err = s.Recv(b, flags)
		return err
	})
	return n, err
}

// RecvfromContext is Recvfrom bounded by ctx.
func (s *Socket) RecvfromContext(ctx context.Context, b []byte, flags MsgFlag) (n int, from Sockaddr, err error) {
	err = s.withContext(ctx, "recvfrom", false, func() (err error) {
		n, from, err = s.Recvfrom(b, flags)
		return err
	})
	return n, from, err
}

// recv runs one receive through the read op.
func (s *Socket) recv(opName string, b []byte, flags MsgFlag) (int, error) {
	op := &s.sys.rop
	op.mu.Lock()
	n, err := s.recvLocked(op, opName, b, flags, false)
	op.mu.Unlock()
	return n, err
}

func (s *Socket) recvLocked(op *ioOp, opName string, b []byte, flags MsgFlag, wantAddr bool) (int, error) {
	op.kind, op.p, op.n, op.errno = opRecv, b, 0, 0
	op.flags = int(flags)
	op.wantAddr = wantAddr
	op.rsaLen = 0
	op.nonblock = s.nonblock.Load() || flags&MSG_DONTWAIT != 0
	op.all = flags&MSG_WAITALL != 0 && s.typ == SOCK_STREAM // SEQPACKET keeps records
	err := s.rc.Read(op.fn)
	n, errno := op.n, op.errno
	op.p = nil
	if err != nil {
		return n, s.opErr(opName, nil, s.pollErr(err))
	}
	if errno != 0 {
		if op.all && n > 0 && errno == unix.EAGAIN {
			return n, nil
		}
		return n, s.opErr(opName, nil, os.NewSyscallError("recvfrom", errno))
	}
	return n, nil
}

// Send wraps send(2): one call that may send only part of b, returning how
// much went. In blocking mode it waits until at least some of b can be
// sent. Use Sendall (or Write) to send everything.
//
// Python: socket.socket.send(bytes[, flags]).
func (s *Socket) Send(b []byte, flags MsgFlag) (int, error) {
	if s == nil {
		return 0, errNilSocket("send")
	}
	s.armWrite()
	return s.send("send", b, flags, nil, false)
}

// Sendall sends all of b, calling send(2) as often as needed. It returns
// len(b) and nil, or how many bytes went before the error. The timeout of
// SetTimeout bounds the whole call, as in Python 3.5 and later.
//
// Python: socket.socket.sendall(bytes[, flags]), which does not say how
// much was sent before an error.
func (s *Socket) Sendall(b []byte, flags MsgFlag) (int, error) {
	if s == nil {
		return 0, errNilSocket("sendall")
	}
	s.armWrite()
	return s.send("sendall", b, flags, nil, true)
}

// Write implements io.Writer and net.Conn: Sendall with no flags.
func (s *Socket) Write(b []byte) (int, error) {
	if s == nil {
		return 0, errNilSocket("write")
	}
	s.armWrite()
	return s.send("write", b, 0, nil, true)
}

// Sendto wraps sendto(2): it sends b to the address to, usually as one
// datagram on a SOCK_DGRAM socket.
//
// Python: socket.socket.sendto(bytes[, flags], address).
func (s *Socket) Sendto(b []byte, flags MsgFlag, to Sockaddr) (int, error) {
	if s == nil {
		return 0, errNilSocket("sendto")
	}
	if err := s.checkAddr("sendto", to); err != nil {
		return 0, err
	}
	s.armWrite()
	return s.send("sendto", b, flags, to, false)
}

// SendtoAddrPort is Sendto for AF_INET and AF_INET6 sockets with the
// destination as a netip.AddrPort. It does not allocate.
func (s *Socket) SendtoAddrPort(b []byte, flags MsgFlag, to netip.AddrPort) (int, error) {
	if s == nil {
		return 0, errNilSocket("sendto")
	}
	s.armWrite()
	op := &s.sys.wop
	op.mu.Lock()
	if op.rsaLen = rawaddr.Encode(to, int(s.family), rawInet(&op.rsa)); op.rsaLen == 0 {
		op.mu.Unlock()
		return 0, s.opErr("sendto", InetAddr(to), &AddrError{Addr: to.String(), Family: s.family,
			Reason: "address does not fit a " + s.family.String() + " socket", Err: syscall.EAFNOSUPPORT})
	}
	n, err := s.sendLocked(op, "sendto", b, flags, false, nil)
	op.mu.Unlock()
	return n, err
}

// SendallContext is Sendall bounded by ctx.
func (s *Socket) SendallContext(ctx context.Context, b []byte, flags MsgFlag) (n int, err error) {
	err = s.withContext(ctx, "sendall", true, func() (err error) {
		n, err = s.send("sendall", b, flags, nil, true)
		return err
	})
	return n, err
}

// SendtoContext is Sendto bounded by ctx.
func (s *Socket) SendtoContext(ctx context.Context, b []byte, flags MsgFlag, to Sockaddr) (n int, err error) {
	if s == nil {
		return 0, errNilSocket("sendto")
	}
	if err := s.checkAddr("sendto", to); err != nil {
		return 0, err
	}
	err = s.withContext(ctx, "sendto", true, func() (err error) {
		n, err = s.send("sendto", b, flags, to, false)
		return err
	})
	return n, err
}

func (s *Socket) send(opName string, b []byte, flags MsgFlag, to Sockaddr, all bool) (int, error) {
	op := &s.sys.wop
	op.mu.Lock()
	op.rsaLen = 0
	if to != nil {
		l, err := encodeSockaddr(to, &op.rsa)
		if err != nil {
			op.mu.Unlock()
			return 0, s.opErr(opName, to, err)
		}
		op.rsaLen = l
	}
	n, err := s.sendLocked(op, opName, b, flags, all, to)
	op.mu.Unlock()
	return n, err
}

func (s *Socket) sendLocked(op *ioOp, opName string, b []byte, flags MsgFlag, all bool, to Sockaddr) (int, error) {
	op.kind, op.p, op.n, op.errno = opSend, b, 0, 0
	op.flags = int(flags | MSG_NOSIGNAL)
	op.nonblock = s.nonblock.Load() || flags&MSG_DONTWAIT != 0
	op.all = all
	err := s.rc.Write(op.fn)
	n, errno := op.n, op.errno
	op.p = nil
	if err != nil {
		return n, s.opErr(opName, to, s.pollErr(err))
	}
	if errno != 0 {
		return n, s.opErr(opName, to, os.NewSyscallError("sendto", errno))
	}
	return n, nil
}

// accept runs accept4(2) through the read op.
func (s *Socket) accept() (*Socket, Sockaddr, error) {
	op := &s.sys.rop
	op.mu.Lock()
	op.kind, op.errno, op.nfd = opAccept, 0, -1
	op.nonblock = s.nonblock.Load()
	op.all = false
	err := s.rc.Read(op.fn)
	nfd, errno, rsa, rsaLen := op.nfd, op.errno, op.rsa, op.rsaLen
	op.mu.Unlock()
	if err != nil {
		return nil, nil, s.opErr("accept", nil, s.pollErr(err))
	}
	if errno != 0 {
		var e error = os.NewSyscallError("accept4", errno)
		if errno == unix.EMFILE || errno == unix.ENFILE {
			e = withHint(e, "out of file descriptors")
		} else if errno == unix.EINVAL {
			e = withHint(e, "the socket is not listening")
		}
		return nil, nil, s.opErr("accept", nil, e)
	}
	c, err := newSocket(nfd, s.family, s.typ, s.proto)
	if err != nil {
		return nil, nil, err
	}
	sa, _ := decodeSockaddr(&rsa, rsaLen)
	if sa == nil && s.family == AF_UNIX {
		sa = &UnixAddr{}
	}
	if sa != nil {
		c.addrs.Store(&addrCache{peer: sa})
	}
	return c, sa, nil
}

// rawInet views an address buffer as the room rawaddr's codec fills.
func rawInet(rsa *unix.RawSockaddrAny) *rawaddr.Storage {
	return (*rawaddr.Storage)(unsafe.Pointer(rsa))
}

var _ net.Conn = (*Socket)(nil)
