//go:build linux

package eventloop

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/rawaddr"
	"github.com/socketkit/socketkit/socket"
)

// A UDP engine reads datagrams in batches with recvmmsg(2) and sends the
// replies its handler makes during a batch with one sendmmsg(2): two
// system calls for up to udpBatch request/reply pairs.

const (
	udpBatch   = 32
	udpMaxSize = 64 << 10
)

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

type udpState struct {
	sock   *socket.Socket
	fd     int
	family int // the socket's address family, for replies
	in     [udpBatch]mmsghdr
	inIov  [udpBatch]unix.Iovec
	inBuf  [udpBatch][]byte
	names  [udpBatch]rawaddr.Storage

	out     [udpBatch]mmsghdr
	outIov  [udpBatch]unix.Iovec
	outBuf  [udpBatch][]byte
	outName [udpBatch]rawaddr.Storage
	nout    int
	pkt     Packet
}

func newUDPState(s *socket.Socket) *udpState {
	u := &udpState{sock: s, fd: s.Fd(), family: int(s.Family())}
	for i := range u.in {
		u.inBuf[i] = make([]byte, udpMaxSize)
		u.inIov[i] = unix.Iovec{Base: &u.inBuf[i][0]}
		u.inIov[i].SetLen(udpMaxSize)
		u.in[i].hdr.Iov = &u.inIov[i]
		u.in[i].hdr.SetIovlen(1)
		u.in[i].hdr.Name = (*byte)(unsafe.Pointer(&u.names[i]))
		u.outBuf[i] = make([]byte, 0, 2048)
		u.out[i].hdr.Name = (*byte)(unsafe.Pointer(&u.outName[i]))
		u.out[i].hdr.Iov = &u.outIov[i]
		u.out[i].hdr.SetIovlen(1)
	}
	return u
}

// readPackets takes one batch of datagrams, hands each to OnPacket and
// sends the replies.
func (l *loop) readPackets(fd int) {
	u := l.udp
	h := l.e.Handler.(PacketHandler)
	for i := range u.in {
		u.in[i].hdr.Namelen = unix.SizeofSockaddrInet6
		u.in[i].n = 0
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&u.in[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return // EAGAIN, or an ICMP error report for an earlier send
	}
	n := int(r)
	l.enter()
	defer l.leave()
	for i := 0; i < n; i++ {
		size := int(u.in[i].n)
		l.stats.bytesIn.Add(uint64(size))
		l.stats.msgsIn.Add(1)
		u.pkt = Packet{Data: u.inBuf[i][:size], From: rawaddr.Decode(&u.names[i]), l: l}
		l.engineAction(l.callOnPacket(h, &u.pkt))
	}
	l.e.stats.accepted.Add(uint64(n))
	l.stats.accepted.Add(uint64(n))
	l.stats.closed.Add(uint64(n)) // a datagram is done when handled
	l.sendReplies()
}

// callOnPacket runs OnPacket, logging a panic: a datagram has no
// connection to reset.
func (l *loop) callOnPacket(h PacketHandler, p *Packet) (act Action) {
	defer func() {
		if v := recover(); v != nil {
			l.stats.panics.Add(1)
			l.e.logger().Error("eventloop: OnPacket panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			act = None
		}
	}()
	return h.OnPacket(p)
}

// reply queues b (copied) to be sent to p's sender when the batch is
// done.
func (l *loop) reply(p *Packet, b []byte) error {
	if !l.inCallback.Load() {
		return ErrWrongLoop
	}
	u := l.udp
	if u.nout == udpBatch {
		l.sendReplies()
	}
	i := u.nout
	namelen := rawaddr.Encode(p.From, u.family, &u.outName[i])
	if namelen == 0 {
		return fmt.Errorf("eventloop: reply to %v: not an address a socket of this family can send to", p.From)
	}
	u.out[i].hdr.Namelen = namelen
	u.outBuf[i] = append(u.outBuf[i][:0], b...)
	buf := u.outBuf[i]
	if len(buf) == 0 {
		buf = u.outBuf[i][:1][:0]
	}
	u.outIov[i] = unix.Iovec{Base: unsafe.SliceData(buf)}
	u.outIov[i].SetLen(len(b))
	u.nout++
	return nil
}

// sendReplies sends the queued replies with sendmmsg(2). Replies the socket
// has no room for are dropped, as a full UDP socket drops datagrams.
func (l *loop) sendReplies() {
	u := l.udp
	for off := 0; off < u.nout; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.out[off])), uintptr(u.nout-off), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 || r == 0 {
			break
		}
		for i := off; i < off+int(r); i++ {
			l.stats.bytesOut.Add(uint64(u.outIov[i].Len))
			l.stats.msgsOut.Add(1)
		}
		off += int(r)
	}
	u.nout = 0
}
