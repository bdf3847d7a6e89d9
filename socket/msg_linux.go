//go:build linux

package socket

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Recvmsg wraps recvmsg(2): it receives data into p and ancillary data into
// oob, and returns the byte counts, the message flags the kernel set
// (MSG_TRUNC, MSG_CTRUNC...) and the sender's address. Parse oob[:oobn]
// with ParseControlMessages. It blocks and times out like Recv. Recvmsg
// adds no flag of its own; as in C and Python, a MSG_CMSG_CLOEXEC passed in
// flags is echoed in rflags.
//
// Python: socket.socket.recvmsg(bufsize[, ancbufsize[, flags]]) and
// recvmsg_into.
func (s *Socket) Recvmsg(p, oob []byte, flags MsgFlag) (n, oobn int, rflags MsgFlag, from Sockaddr, err error) {
	if s == nil {
		return 0, 0, 0, nil, errNilSocket("recvmsg")
	}
	s.armRead()
	op := &s.sys.rop
	op.mu.Lock()
	op.kind, op.n, op.errno, op.rflg = opRecvmsg, 0, 0, 0
	op.flags = int(flags)
	op.nonblock = s.nonblock.Load() || flags&MSG_DONTWAIT != 0
	op.all = false
	op.wantAddr = true
	op.msg = unix.Msghdr{}
	op.iov[0] = unix.Iovec{Base: bufBase(p)}
	op.iov[0].SetLen(len(p))
	op.msg.Iov = &op.iov[0]
	op.msg.SetIovlen(1)
	if len(oob) > 0 {
		op.msg.Control = &oob[0]
		op.msg.SetControllen(len(oob))
	}
	rerr := s.rc.Read(op.fn)
	n, errno, rflags := op.n, op.errno, MsgFlag(op.rflg)
	oobn = int(op.msg.Controllen)
	rsa, rsaLen := op.rsa, op.msg.Namelen
	op.msg, op.iov[0] = unix.Msghdr{}, unix.Iovec{}
	op.mu.Unlock()
	if rerr != nil {
		return 0, 0, 0, nil, s.opErr("recvmsg", nil, s.pollErr(rerr))
	}
	if errno != 0 {
		return 0, 0, 0, nil, s.opErr("recvmsg", nil, os.NewSyscallError("recvmsg", errno))
	}
	from, derr := decodeSockaddr(&rsa, rsaLen)
	if derr != nil {
		return n, oobn, rflags, nil, s.opErr("recvmsg", nil, derr)
	}
	return n, oobn, rflags, from, nil
}

// Sendmsg wraps sendmsg(2): it sends the buffers in bufs as one message (a
// gather write), with the ancillary data oob (see UnixRights,
// AppendControlMessage), to the address to, or to the connected peer when to
// is nil. Like Send, it may send only part of the data on a stream socket.
//
// Python: socket.socket.sendmsg(buffers[, ancdata[, flags[, address]]]).
func (s *Socket) Sendmsg(bufs [][]byte, oob []byte, flags MsgFlag, to Sockaddr) (int, error) {
	if s == nil {
		return 0, errNilSocket("sendmsg")
	}
	if to != nil {
		if err := s.checkAddr("sendmsg", to); err != nil {
			return 0, err
		}
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 && len(oob) > 0 && s.typ != SOCK_DGRAM && s.typ != SOCK_RAW {
		// A stream needs at least one byte to carry ancillary data.
		bufs = [][]byte{{0}}
	}
	s.armWrite()
	op := &s.sys.wop
	op.mu.Lock()
	defer op.mu.Unlock()
	op.kind, op.n, op.errno = opSendmsg, 0, 0
	op.flags = int(flags | MSG_NOSIGNAL)
	op.nonblock = s.nonblock.Load() || flags&MSG_DONTWAIT != 0
	op.all = false
	op.msg = unix.Msghdr{}
	if to != nil {
		l, err := encodeSockaddr(to, &op.rsa)
		if err != nil {
			return 0, s.opErr("sendmsg", to, err)
		}
		op.msg.Name = (*byte)(unsafe.Pointer(&op.rsa))
		op.msg.Namelen = l
	}
	iov := op.iov[:0]
	if len(bufs) > iovInline {
		iov = make([]unix.Iovec, 0, len(bufs))
	}
	for _, b := range bufs {
		v := unix.Iovec{Base: bufBase(b)}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	if len(iov) > 0 {
		op.msg.Iov = &iov[0]
		op.msg.SetIovlen(len(iov))
	}
	if len(oob) > 0 {
		op.msg.Control = &oob[0]
		op.msg.SetControllen(len(oob))
	}
	werr := s.rc.Write(op.fn)
	n, errno := op.n, op.errno
	op.msg = unix.Msghdr{}
	clear(op.iov[:])
	if werr != nil {
		return 0, s.opErr("sendmsg", to, s.pollErr(werr))
	}
	if errno != 0 {
		return 0, s.opErr("sendmsg", to, os.NewSyscallError("sendmsg", errno))
	}
	if total == 0 {
		n = 0 // the byte added above to carry oob is not the caller's data
	}
	return n, nil
}

// SendFds sends the buffers with the file descriptors fds attached
// (SCM_RIGHTS) over an AF_UNIX socket. The receiver gets duplicates; the
// caller still owns fds.
//
// Python: socket.send_fds(sock, buffers, fds[, flags[, address]]).
func (s *Socket) SendFds(bufs [][]byte, fds []int, flags MsgFlag, to Sockaddr) (int, error) {
	if s == nil {
		return 0, errNilSocket("sendmsg")
	}
	return s.Sendmsg(bufs, UnixRights(fds...), flags, to)
}

// RecvFds receives data into b and up to maxfds file descriptors sent with
// SCM_RIGHTS. The descriptors are close-on-exec and belong to the caller
// (wrap one with NewFd, or close it). If more than maxfds were sent, rflags
// has MSG_CTRUNC and the kernel closed the extra ones. rflags is the
// kernel's report on the message (MSG_CTRUNC, MSG_TRUNC, MSG_EOR...): the
// MSG_CMSG_CLOEXEC that RecvFds asks for, and recvmsg(2) echoes, is
// removed, so it reports 0 where Python's recv_fds does.
//
// maxfds is 0 to SCM_MAX_FD (253, the most the kernel passes in one
// message); outside that range RecvFds receives nothing and returns an
// error matching syscall.EINVAL (Python raises ValueError for a negative
// maxfds).
//
// Python: socket.recv_fds(sock, bufsize, maxfds[, flags]).
func (s *Socket) RecvFds(b []byte, maxfds int, flags MsgFlag) (n int, fds []int, rflags MsgFlag, from Sockaddr, err error) {
	if s == nil {
		return 0, nil, 0, nil, errNilSocket("recvmsg")
	}
	if maxfds < 0 || maxfds > SCM_MAX_FD {
		return 0, nil, 0, nil, s.opErr("recvmsg", nil, os.NewSyscallError("recvmsg", unix.EINVAL))
	}
	// CMSG_LEN, not CMSG_SPACE: the kernel fills whole ints up to the end of
	// the buffer, and CMSG_SPACE's padding would hold a fd more than maxfds
	// when maxfds is odd.
	oob := make([]byte, CmsgLen(4*maxfds))
	n, oobn, rflags, from, err := s.Recvmsg(b, oob, flags|MSG_CMSG_CLOEXEC)
	rflags &^= MSG_CMSG_CLOEXEC
	if err != nil {
		return n, nil, rflags, from, err
	}
	msgs, perr := ParseControlMessages(oob[:oobn])
	for _, m := range msgs {
		if m.Level == SOL_SOCKET && m.Type == SCM_RIGHTS {
			got, _ := m.Rights()
			fds = append(fds, got...)
		}
	}
	if perr != nil {
		return n, fds, rflags, from, s.opErr("recvmsg", nil, perr)
	}
	return n, fds, rflags, from, nil
}
