//go:build linux

package eventloop

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ready handles the poller's report about a connection.
func (l *loop) ready(tok token, r readiness) {
	fd := int(tok.fd)
	if fd >= len(l.conns) {
		return
	}
	c := l.conns[fd]
	if c == nil || int32(c.gen) != tok.tag {
		return // about a descriptor closed earlier in this batch
	}
	if r&writable != 0 {
		l.flushConn(c)
	}
	if r&readable != 0 && c.flags&fClosed == 0 {
		l.read(c)
	}
}

// dispatch runs a callback, recovering a panic (the connection is closed
// and the panic logged), then sends the output it wrote and acts on the
// returned Action.
func (l *loop) dispatch(c *Conn, f func() Action) {
	act := None
	func() {
		defer func() {
			if p := recover(); p != nil {
				l.stats.panics.Add(1)
				l.e.logger().Error("eventloop: handler panicked; closing the connection", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				act = Close
			}
		}()
		act = f()
	}()
	// Send what the callback wrote, to c and to any other connection, now:
	// the rest of the batch can wait, the reply should not.
	l.flushDirty()
	if c.flags&fClosed != 0 {
		return
	}
	switch act {
	case Close:
		l.closeAfterFlush(c)
	case Shutdown:
		go l.e.Shutdown(context.Background())
	case StopAccepting:
		l.e.StopAccept()
	}
}

// read reads once into the loop's buffer (or the connection's leftover
// buffer) and calls OnData. Level-triggered readiness reports the socket
// again if more is waiting, so one read per event is enough.
func (l *loop) read(c *Conn) {
	if c.tls != nil {
		l.readTLS(c)
		return
	}
	var n int
	var err error
	if len(c.in) > 0 {
		if cap(c.in)-len(c.in) < 4096 {
			grown := make([]byte, len(c.in), 2*cap(c.in)+4096)
			copy(grown, c.in)
			c.in = grown
		}
		n, err = readFd(int(c.fd), c.in[len(c.in):cap(c.in)])
		if n > 0 {
			c.in = c.in[:len(c.in)+n]
		}
	} else {
		n, err = readFd(int(c.fd), l.buf)
	}
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		l.closeNow(c, os.NewSyscallError("read", err))
		return
	case n == 0:
		l.eof(c)
		return
	}
	l.stats.bytesIn.Add(uint64(n))
	l.stats.msgsIn.Add(1)
	if l.wheel != nil {
		c.lastTick = l.wheel.now
	}
	if len(c.in) > 0 {
		l.offer(c, c.in)
	} else {
		l.offer(c, l.buf[:n])
	}
}

// eof handles the end of c's input: the peer has shut down its side.
// What is left unread is offered once more; then the handler decides
// (OnEOF), or the connection closes once its output is out.
func (l *loop) eof(c *Conn) {
	if c.tls != nil {
		l.eofTLS(c)
		return
	}
	if len(c.in) > 0 {
		l.offer(c, c.in)
	}
	if c.flags&fClosed != 0 {
		return
	}
	if h, ok := l.e.Handler.(EOFHandler); ok {
		c.flags |= fReadEOF
		l.watch(c) // stop watching input: level-triggered EOF would repeat
		l.dispatch(c, func() Action { return h.OnEOF(c) })
		return
	}
	l.closeAfterFlush(c)
}

// offer lends data to OnData and keeps what it leaves unread.
func (l *loop) offer(c *Conn, data []byte) {
	l.win, l.rpos, l.inData = data, 0, c
	l.dispatch(c, func() Action { return l.e.Handler.OnData(c) })
	rest := l.win[l.rpos:]
	l.win, l.rpos, l.inData = nil, 0, nil
	if c.flags&fClosed != 0 {
		return
	}
	switch {
	case len(rest) == 0:
		c.in = nil // idle connections hold no read buffer
	case len(c.in) > 0 && &rest[0] == &c.in[len(c.in)-len(rest)]:
		copy(c.in, rest) // compact the connection's own buffer
		c.in = c.in[:len(rest)]
	default:
		c.in = append(make([]byte, 0, len(rest)+4096), rest...)
	}
}

// readFd is read(2) as a raw system call: the socket is non-blocking, so
// the scheduler need not know.
func readFd(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// flushDirty sends the output written during this round's callbacks.
func (l *loop) flushDirty() {
	for i, c := range l.dirty {
		c.flags &^= fDirty
		if c.flags&fClosed == 0 {
			l.flushConn(c)
		}
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
}

// flushConn writes c's output with one write(2) or writev(2), watches for
// room for the rest, applies the watermarks, and finishes a close that
// waited for the output.
func (l *loop) flushConn(c *Conn) {
	for c.outLen > 0 {
		n, err := l.writeOut(c)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.closeNow(c, os.NewSyscallError("write", err))
			return
		}
		l.stats.bytesOut.Add(uint64(n))
		l.stats.msgsOut.Add(1)
		c.consumeOut(n)
	}
	wantOut := c.outLen > 0
	if wantOut != (c.flags&fWantOut != 0) || l.pauseChanged(c) {
		if wantOut {
			c.flags |= fWantOut
		} else {
			c.flags &^= fWantOut
		}
		l.watch(c)
	}
	if c.outLen == 0 && c.flags&fClosing != 0 {
		l.closeNow(c, nil)
		return
	}
	// Writability: once the output is back at the low watermark after a
	// callback left it above, reading resumes and OnWritable is due. It is
	// queued, not called here, so that a fast reader cannot make the
	// producer recurse, and runs once per loop round.
	if c.flags&fAboveLow != 0 && c.outLen <= l.e.lowWatermark() {
		c.flags &^= fAboveLow
		if c.flags&fOverHigh != 0 {
			c.flags &^= fOverHigh
			l.watch(c)
		}
		if _, ok := l.e.Handler.(Writabler); ok && c.flags&fWritableDue == 0 {
			c.flags |= fWritableDue
			l.writable = append(l.writable, c)
		}
	}
}

// writeOut makes one write(2) of c's first chunk, or one writev(2) of as
// many chunks as the loop's iovec holds.
func (l *loop) writeOut(c *Conn) (int, error) {
	if l.u != nil {
		return l.u.send(c) // queued for the end of the round
	}
	if len(c.out) == 1 {
		b := c.out[0][c.outOff:]
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		return int(r), errnoErr(e)
	}
	l.iov = l.iov[:0]
	for i, b := range c.out {
		if i == 0 {
			b = b[c.outOff:]
		}
		if len(l.iov) == cap(l.iov) {
			break
		}
		l.iov = append(l.iov, unix.Iovec{Base: &b[0], Len: uint64(len(b))})
	}
	r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&l.iov[0])), uintptr(len(l.iov)))
	clear(l.iov) // the chunks go back to the free list: keep no pointer to them
	return int(r), errnoErr(e)
}

// pauseChanged applies the high watermark: reading stops while the output
// is over it.
func (l *loop) pauseChanged(c *Conn) bool {
	if c.outLen > l.e.highWatermark() && c.flags&fOverHigh == 0 {
		c.flags |= fOverHigh
		l.stats.pauses.Add(1)
		return true
	}
	return false
}

// watch tells the poller what c waits for now: input unless reading is
// paused (by the handler, the high watermark, a close or the peer's EOF),
// room to write while output waits.
func (l *loop) watch(c *Conn) {
	var in interest
	if c.flags&(fOverHigh|fPaused|fClosing|fReadEOF) == 0 {
		in |= wantRead
	}
	if c.flags&fWantOut != 0 {
		in |= wantWrite
	}
	l.p.mod(int(c.fd), in, int32(c.gen))
}

// closeAfterFlush closes c once its pending output is sent: it stops
// reading at once (shutdown(2) SHUT_RD), and flushConn calls closeNow
// when the output is out. Without pending output it is closeNow(c, nil).
func (l *loop) closeAfterFlush(c *Conn) {
	if c.flags&fClosed != 0 {
		return
	}
	if c.tls != nil && !l.closingTLS(c) {
		return
	}
	if c.outLen == 0 {
		l.closeNow(c, nil)
		return
	}
	if c.flags&fClosing == 0 {
		c.flags |= fClosing
		unix.Shutdown(int(c.fd), unix.SHUT_RD)
		l.watch(c)
	}
}

// closeNow closes c's descriptor at once, dropping pending output, and
// calls OnClose with cause (nil for an orderly close).
func (l *loop) closeNow(c *Conn, cause error) {
	if c.flags&fClosed != 0 {
		return
	}
	c.flags |= fClosed
	if l.wheel != nil {
		l.wheel.remove(&c.node)
	}
	due := true // OnClose
	if c.tls != nil {
		cause, due = l.closedTLS(c, cause) // before the descriptor goes: OnHandshakeError may ask for the address
	}
	fd := int(c.fd)
	l.conns[fd] = nil
	l.nconns--
	l.p.closeConn(c)
	if l.acceptPaused {
		l.resumeAccept() // a descriptor is free: try again now
	}
	for _, b := range c.out {
		l.putChunk(b)
	}
	l.stats.outbound.Add(-int64(c.outLen))
	c.out, c.outLen, c.in = nil, 0, nil
	l.e.stats.active.Add(-1)
	l.e.stats.closed.Add(1)
	l.stats.closed.Add(1)
	if !due {
		return
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				l.stats.panics.Add(1)
				l.e.logger().Error("eventloop: OnClose panicked", "panic", fmt.Sprint(p))
			}
		}()
		l.e.Handler.OnClose(c, cause)
	}()
}

// beginShutdown stops accepting; with force it closes every connection at
// once, otherwise each closes when its output is out.
func (l *loop) beginShutdown(force bool) {
	if !l.shutting {
		l.shutting = true
		if !l.acceptPaused {
			for _, fd := range l.lnFds {
				l.p.del(fd)
			}
		}
		if l.lnUDP {
			l.forceStop = true
		}
	}
	if force {
		l.forceStop = true
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if force {
			l.closeNow(c, nil)
		} else {
			l.closeAfterFlush(c)
		}
	}
}

// closeAll closes what is left when the loop stops.
func (l *loop) closeAll() {
	for _, c := range l.conns {
		if c != nil && c.flags&fClosed == 0 {
			l.closeNow(c, ErrEngineClosed)
		}
	}
}

// shutdownWrite is shutdown(2) SHUT_WR of c (with io_uring, once the
// output in flight is out).
func (l *loop) shutdownWrite(c *Conn) error {
	if l.u != nil {
		return l.u.shutdownWrite(c)
	}
	return os.NewSyscallError("shutdown", unix.Shutdown(int(c.fd), unix.SHUT_WR))
}

// sockAddr returns fd's address (getsockname(2)) or its peer's
// (getpeername(2)), or nil if the kernel has none.
func sockAddr(fd int, peer bool) net.Addr {
	var sa unix.Sockaddr
	var err error
	if peer {
		sa, err = unix.Getpeername(fd)
	} else {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}
