//go:build linux

package eventloop

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring backend's output: one send in flight per connection, of
// the chunks its output holds at the end of the round (SEND of one chunk,
// SENDMSG of several), their completions, and the off-heap chunks the
// kernel reads them from. The rest of the backend is in uring_linux.go.

// send queues c's output to be sent at the end of the round, unless a
// send is in flight (its completion sends the rest). It returns EAGAIN,
// which to flushConn means "the rest waits".
func (u *uring) send(c *Conn) (int, error) {
	if s := u.st[c.fd]; s&(stSend|stSendQ) == 0 {
		u.st[c.fd] = s | stSendQ
		u.sendq = append(u.sendq, c)
	}
	return 0, unix.EAGAIN
}

// prepareSends makes the round's send requests: the first chunk of each
// queued connection's output, as it stands at the end of the round (or,
// for output of several chunks, up to sendIovs of them), and returns how
// many it made. It sets followUp if the completion of one of them sets
// something going (the rest of the output, a close or shutdown(2) after
// it, OnWritable); a send (MSG_WAITALL) otherwise ends the connection's
// output, and its completion can wait.
func (u *uring) prepareSends() (n int) {
	u.followUp = false
	for i, c := range u.sendq {
		u.sendq[i] = nil
		if c.flags&fClosed != 0 {
			continue // closeConn has cleared its stSendQ; the descriptor may be another connection's by now
		}
		fd := c.fd
		u.st[fd] &^= stSendQ
		if c.outLen == 0 {
			continue
		}
		ud := userData(opSend, fd, c.generation())
		var size int
		if len(c.out) > 1 && u.msgs < scratchMsgs && u.st[fd]&stPlainSend == 0 {
			var m *unix.Msghdr
			m, size = u.msghdr(c)
			prepSendmsg(u.sqe(), fd, m, ud)
			u.followUp = true // the EAGAIN of a half-closed socket (see sent), or output beyond sendIovs
		} else {
			b := c.out[0][c.outOff:]
			size = len(b)
			prepSend(u.sqe(), fd, b, ud)
			if len(c.out) > 1 || c.flags&(fClosing|fAboveLow) != 0 || u.st[fd]&stShutWr != 0 {
				u.followUp = true // the rest, a close or shutdown after it, OnWritable
			}
		}
		// Counted as sent now, as the epoll backend counts what write(2)
		// took: the completion may wait for the loop's next event (see
		// poll), and Stats must not. sent takes back what was not sent.
		u.sendLen[fd] = uint32(size)
		u.l.stats.bytesOut.Add(uint64(size))
		u.l.stats.msgsOut.Add(1)
		u.st[fd] |= stSend
		u.inflight++
		n++
	}
	u.sendq = u.sendq[:0]
	return n
}

// The scratch mapping: the eventfd's 8 bytes, then scratchMsgs slots of a
// msghdr and its iovec of up to sendIovs chunks, for the round's sends of
// more than one chunk. The kernel copies a msghdr and its iovec when it
// takes the request (IORING_FEAT_SUBMIT_STABLE), so the slots are reused
// every round; the chunks themselves stay until the send's completion.
const (
	sendIovs    = 16 // 256 KiB a send
	msgSlotSize = 64 + sendIovs*16
	scratchMsgs = 63
	scratchSize = 64 + scratchMsgs*msgSlotSize
)

// msghdr fills the round's next msghdr slot with c's first chunks and
// returns it with the bytes it holds.
func (u *uring) msghdr(c *Conn) (*unix.Msghdr, int) {
	slot := u.scratch[64+u.msgs*msgSlotSize:][:msgSlotSize]
	u.msgs++
	iov := unsafe.Slice((*unix.Iovec)(unsafe.Pointer(&slot[64])), sendIovs)
	n, size := 0, 0
	for i, b := range c.out {
		if n == sendIovs {
			break
		}
		if i == 0 {
			b = b[c.outOff:]
		}
		iov[n] = unix.Iovec{Base: unsafe.SliceData(b)}
		iov[n].SetLen(len(b))
		n++
		size += len(b)
	}
	m := (*unix.Msghdr)(unsafe.Pointer(&slot[0]))
	*m = unix.Msghdr{Iov: &iov[0]}
	m.SetIovlen(n)
	return m, size
}

// shutdownWrite is CloseWrite's shutdown(2) SHUT_WR, made once the
// output in the loop's hands is out.
func (u *uring) shutdownWrite(c *Conn) error {
	if c.outLen > 0 || u.st[c.fd]&(stSend|stSendQ) != 0 {
		u.st[c.fd] |= stShutWr
		return nil
	}
	return os.NewSyscallError("shutdown", unix.Shutdown(int(c.fd), unix.SHUT_WR))
}

// sent handles the completion of a send.
func (u *uring) sent(fd int32, gen uint32, cqe *uringCQE) {
	l := u.l
	u.st[fd] &^= stSend
	if n := max(cqe.res, 0); uint32(n) < u.sendLen[fd] {
		// Counted whole when it was made (prepareSends): take back what
		// was not sent (an error, the EAGAIN below, a cancellation).
		l.stats.bytesOut.Add(^uint64(u.sendLen[fd] - uint32(n) - 1))
		if n == 0 {
			l.stats.msgsOut.Add(^uint64(0))
		}
	}
	u.sendLen[fd] = 0
	c := u.conn(fd, gen)
	if c == nil {
		if bs, ok := u.held[fd]; ok {
			delete(u.held, fd)
			for _, b := range bs {
				l.putChunk(b)
			}
		}
		u.release(fd)
		return
	}
	if cqe.res == -int32(unix.EAGAIN) && u.st[fd]&stPlainSend == 0 {
		// A SENDMSG on a socket shut down for reading (our SHUT_RD as it
		// closes, or the peer's FIN) completes with EAGAIN, nothing sent,
		// when the socket has no room, where a SEND waits for room (seen
		// on Linux 6.18; TestPipelinedBackPressure with a half-closing
		// client and TestCloseReleasesShutdown lost the connection to it).
		// Send it again, as plain SENDs from now on.
		u.st[fd] |= stPlainSend
		u.send(c)
		return
	}
	if cqe.res < 0 {
		l.closeNow(c, os.NewSyscallError("send", unix.Errno(-cqe.res)))
		return
	}
	c.consumeOut(int(cqe.res))
	l.flushConn(c) // the rest, the watermarks, a close that waited for the output
	if c.flags&fClosed == 0 && u.st[fd]&stShutWr != 0 && c.outLen == 0 && u.st[fd]&(stSend|stSendQ) == 0 {
		u.st[fd] &^= stShutWr
		unix.Shutdown(int(fd), unix.SHUT_WR)
	}
}

// newChunk returns an output chunk out of the Go heap (the kernel reads a
// send's chunks after the send was submitted): one the loop's free list
// had no room for, or a new mapping.
func (u *uring) newChunk() []byte {
	if n := len(u.spare); n > 0 {
		b := u.spare[n-1]
		u.spare = u.spare[:n-1]
		return b[:0]
	}
	b, err := unix.Mmap(-1, 0, chunkSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		panic(os.NewSyscallError("mmap", err)) // out of memory, as make would be
	}
	return b[:0]
}

// dropChunk takes a chunk the loop's free list (256 chunks) has no room
// for. Unlike the epoll backend, whose chunks go back as soon as write(2)
// has taken them, a loop on io_uring holds a chunk for every connection
// with a send in flight, so it keeps spares up to its number of
// connections: a thousand busy connections do not map and unmap chunks
// every round. Beyond that a chunk is unmapped.
func (u *uring) dropChunk(b []byte) {
	if len(u.spare) < u.l.nconns {
		u.spare = append(u.spare, b[:0])
		return
	}
	unix.Munmap(b[:cap(b)])
}
