//go:build linux

package eventloop

import (
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
	if c == nil || int32(c.gen.Load()) != tok.tag {
		return // about a descriptor closed earlier in this batch
	}
	if r&writable != 0 {
		l.flushConn(c)
	}
	if r&readable != 0 && c.flags&fClosed == 0 {
		l.read(c)
	}
}

// callback names a connection callback of the handler.
type callback uint8

const (
	cbOpen callback = iota
	cbData
	cbWritable
	cbEOF
)

func (cb callback) String() string {
	return [...]string{"OnOpen", "OnData", "OnWritable", "OnEOF"}[cb]
}

// dispatch runs a callback of c, then sends the output it wrote, to c
// and to any other connection (the rest of the batch can wait, the reply
// should not), and acts on the returned Action. A callback that panics
// resets c (see reset).
func (l *loop) dispatch(c *Conn, cb callback) {
	l.enter()
	act, perr := l.call(c, cb)
	if cb == cbData {
		// Input left unread with output pending waits for the output to
		// drain (flushConn offers it again then, which may be at once).
		if l.rpos < len(l.win) && c.outLen > 0 {
			c.flags |= fWaitDrain
		} else {
			c.flags &^= fWaitDrain
		}
		l.inData = nil // Read and its kin end with OnData; offer keeps the window
	}
	if perr != nil {
		l.reset(c, perr)
	}
	l.flushDirty()
	if c.flags&fClosed == 0 {
		switch act {
		case Close:
			l.closeAfterFlush(c)
		case Shutdown, StopAccepting:
			l.engineAction(act)
		}
	}
	l.leave()
}

// call runs the callback, recovering a panic into a PanicError.
func (l *loop) call(c *Conn, cb callback) (act Action, perr *PanicError) {
	defer func() {
		if p := recover(); p != nil {
			l.stats.panics.Add(1)
			perr = &PanicError{Callback: cb.String(), Value: p, Stack: debug.Stack()}
			l.e.logger().Error("eventloop: handler panicked; resetting the connection", "callback", perr.Callback, "panic", fmt.Sprint(p), "stack", string(perr.Stack))
		}
	}()
	h := l.e.Handler
	switch cb {
	case cbOpen:
		return h.OnOpen(c), nil
	case cbData:
		return h.OnData(c), nil
	case cbWritable:
		return h.(WritableHandler).OnWritable(c), nil
	case cbEOF:
		return h.(EOFHandler).OnEOF(c), nil
	}
	return None, nil
}

// reset closes c with a reset (SO_LINGER with a zero timeout: the peer
// gets an RST, not an orderly end) and drops its pending output: after a
// panic, whatever the callback left half done must not look complete.
func (l *loop) reset(c *Conn, cause error) {
	if c.flags&fClosed != 0 {
		return
	}
	unix.SetsockoptLinger(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	l.closeNow(c, cause)
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
			size := 2*cap(c.in) + 4096
			if max := l.e.maxInbound(); max > 0 {
				size = min(size, max+4096) // offer closes c past max
			}
			grown := make([]byte, len(c.in), size)
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
	if !l.received(c, n, err) {
		return
	}
	if len(c.in) > 0 {
		l.offer(c, c.in)
	} else {
		l.offer(c, l.buf[:n])
	}
}

// received takes the result of a read(2) of c's socket: it counts n
// bytes and reports true, or reports false when there is nothing to take
// (EAGAIN, EINTR), when the read failed (c is closed with the error) or
// at the end of input (eof).
func (l *loop) received(c *Conn, n int, err error) bool {
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return false
	case err != nil:
		l.closeNow(c, os.NewSyscallError("read", err))
		return false
	case n == 0:
		l.eof(c)
		return false
	}
	l.stats.bytesIn.Add(uint64(n))
	l.stats.msgsIn.Add(1)
	if l.wheel != nil {
		c.lastTick = l.wheel.now
	}
	return true
}

// eof handles the end of c's input: the peer has shut down its side. What
// is left unread is offered once more; then the handler decides (OnEOF),
// or the connection closes once its output is out. A request left unread
// because its answer did not fit (OnData left input with output pending)
// is answered first: the connection stops reading and closes when OnData
// has taken the rest (see finishEOF).
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
	l.inputEnded(c)
}

// inputEnded is what follows the last offer of c's input: the handler's
// OnEOF, or a close once the output is out and the requests read are
// answered.
func (l *loop) inputEnded(c *Conn) {
	c.flags |= fReadEOF
	l.watch(c) // stop watching input: level-triggered EOF would repeat
	if _, ok := l.e.Handler.(EOFHandler); ok {
		l.dispatch(c, cbEOF)
		return
	}
	if c.flags&(fWaitDrain|fOfferDue) != 0 {
		c.flags |= fEOFClose
		return
	}
	l.closeAfterFlush(c)
}

// finishEOF closes c, after an offer of its unread input, if it was only
// kept open to answer what the peer sent before its EOF and OnData has
// taken all it will.
func (l *loop) finishEOF(c *Conn) {
	if c.flags&(fEOFClose|fClosed|fWaitDrain|fOfferDue) == fEOFClose {
		l.closeAfterFlush(c)
	}
}

// offer lends data to OnData and keeps what it leaves unread. Input left
// unread while output is pending is offered again when the output drains
// (see dispatch); input left beyond MaxInbound closes the connection.
func (l *loop) offer(c *Conn, data []byte) {
	l.win, l.rpos, l.inData = data, 0, c
	l.dispatch(c, cbData)
	rest := l.win[l.rpos:]
	l.win, l.rpos = nil, 0
	if c.flags&fClosed != 0 {
		return
	}
	switch {
	case len(rest) == 0:
		c.in = nil // idle connections hold no read buffer
		return
	case len(c.in) > 0 && &rest[0] == &c.in[len(c.in)-len(rest)]:
		copy(c.in, rest) // compact the connection's own buffer
		c.in = c.in[:len(rest)]
	default:
		c.in = append(make([]byte, 0, len(rest)+4096), rest...)
	}
	if max := l.e.maxInbound(); max > 0 && len(c.in) > max {
		l.closeNow(c, ErrInboundFull)
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

// flushDirty sends the output written during this round's callbacks. It
// takes each connection off the list before flushing it: a flush that
// fails closes the connection, whose OnClose may write to others and
// flush again.
func (l *loop) flushDirty() {
	for n := len(l.dirty); n > 0; n = len(l.dirty) {
		c := l.dirty[n-1]
		l.dirty[n-1] = nil
		l.dirty = l.dirty[:n-1]
		c.flags &^= fDirty
		if c.flags&fClosed == 0 {
			l.flushConn(c)
		}
	}
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
	if c.outLen > l.e.lowWatermark() {
		return
	}
	// Drained: once the output is back at the low watermark after a
	// callback left it above, reading resumes and OnWritable is due; input
	// OnData left unread for want of room is offered again. Both are
	// queued, not called here, so that a fast reader cannot make the
	// producer recurse, and run once per loop round.
	if c.flags&fAboveLow != 0 {
		c.flags &^= fAboveLow
		if c.flags&fOverHigh != 0 {
			c.flags &^= fOverHigh
			l.watch(c)
		}
		if _, ok := l.e.Handler.(WritableHandler); ok {
			l.queueDue(c, fWritableDue)
		}
	}
	if c.flags&fWaitDrain != 0 {
		c.flags &^= fWaitDrain
		l.offerLater(c)
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
	l.p.mod(int(c.fd), in, int32(c.gen.Load()))
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
// calls OnClose with cause (nil for an orderly close): at once, or, if a
// callback is running, when it has returned.
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
		// Before the descriptor goes: OnHandshakeError (a handshaking
		// connection is never in a callback of the handler's, so it runs
		// here) may ask for the address.
		cause, due = l.closedTLS(c, cause)
	}
	c.gen.Store(0)
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
	if due {
		l.closed(c, cause)
	}
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
