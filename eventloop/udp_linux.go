//go:build linux

package eventloop

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

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
	sock  *socket.Socket
	fd    int
	in    [udpBatch]mmsghdr
	inIov [udpBatch]unix.Iovec
	inBuf [udpBatch][]byte
	names [udpBatch]unix.RawSockaddrInet6

	out     [udpBatch]mmsghdr
	outIov  [udpBatch]unix.Iovec
	outBuf  [udpBatch][]byte
	outName [udpBatch]unix.RawSockaddrInet6
	nout    int
	pkt     Packet
}

func newUDPState(s *socket.Socket) *udpState {
	u := &udpState{sock: s, fd: s.Fd()}
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
	for i := 0; i < n; i++ {
		size := int(u.in[i].n)
		l.stats.bytesIn.Add(uint64(size))
		l.stats.msgsIn.Add(1)
		u.pkt = Packet{Data: u.inBuf[i][:size], From: rawToAddrPort(&u.names[i]), l: l}
		func() {
			defer func() {
				if p := recover(); p != nil {
					l.stats.panics.Add(1)
					l.e.logger().Error("eventloop: OnPacket panicked", "panic", p)
				}
			}()
			h.OnPacket(&u.pkt)
		}()
	}
	l.e.stats.accepted.Add(uint64(n))
	l.stats.accepted.Add(uint64(n))
	l.stats.closed.Add(uint64(n)) // a datagram is done when handled
	l.sendReplies()
}

// reply queues b (copied) to be sent to p's sender when the batch is
// done.
func (l *loop) reply(p *Packet, b []byte) error {
	u := l.udp
	if u.nout == udpBatch {
		l.sendReplies()
	}
	i := u.nout
	u.outBuf[i] = append(u.outBuf[i][:0], b...)
	if !addrPortToRaw6(p.From, &u.outName[i], &u.out[i].hdr.Namelen) {
		return ErrConnClosed
	}
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

// rawToAddrPort decodes an AF_INET or AF_INET6 sockaddr without allocating.
func rawToAddrPort(rsa *unix.RawSockaddrInet6) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		pp := (*[2]byte)(unsafe.Pointer(&p.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(pp[0])<<8|uint16(pp[1]))
	case unix.AF_INET6:
		pp := (*[2]byte)(unsafe.Pointer(&rsa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr), uint16(pp[0])<<8|uint16(pp[1]))
	}
	return netip.AddrPort{}
}

func addrPortToRaw6(ap netip.AddrPort, rsa *unix.RawSockaddrInet6, l *uint32) bool {
	ip := ap.Addr()
	if !ip.IsValid() {
		return false
	}
	if ip.Is4() {
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		pp := (*[2]byte)(unsafe.Pointer(&p.Port))
		pp[0], pp[1] = byte(ap.Port()>>8), byte(ap.Port())
		*l = unix.SizeofSockaddrInet4
		return true
	}
	*rsa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
	pp := (*[2]byte)(unsafe.Pointer(&rsa.Port))
	pp[0], pp[1] = byte(ap.Port()>>8), byte(ap.Port())
	*l = unix.SizeofSockaddrInet6
	return true
}
