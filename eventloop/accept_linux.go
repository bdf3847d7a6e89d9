//go:build linux

package eventloop

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// addListener gives the loop a listening socket (or a UDP engine's
// socket) to watch: want is wantRead for a socket of its own, shared for
// one that every loop watches.
func (l *loop) addListener(ln *socket.Socket, want interest, udp bool) error {
	fd := ln.Fd()
	l.lnFds = append(l.lnFds, fd)
	l.lnWant = want
	l.lnUDP = udp
	if udp {
		l.udp = newUDPState(ln)
	}
	if f := ln.Family(); (f == socket.AF_INET || f == socket.AF_INET6) && !l.e.Nagle {
		l.noDelay = true
	}
	if l.e.noAccept.Load() {
		return nil // StopAccept came first
	}
	return l.p.add(fd, want, listenerTag)
}

// accept takes the pending connections of listener fd.
func (l *loop) accept(fd int) {
	for i := 0; i < 256 && !l.shutting; i++ {
		if l.e.noAccept.Load() {
			l.stopAccepting(false) // StopAccept's task for this loop may still be queued
			return
		}
		if !l.acceptOne(fd) {
			return
		}
	}
}

// acceptOne takes one connection from listener fd's queue with accept4(2)
// and registers it (or closes it, past MaxConns). It reports false when
// there was none (EAGAIN) or accepting failed (EMFILE and its kind pause
// accepting; other errors are logged).
func (l *loop) acceptOne(fd int) bool {
	// No address: unix.Accept4 would allocate one a connection, and
	// RemoteAddr asks the kernel when it is wanted.
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	nfd, err := int(r), errnoErr(e)
	if err != nil {
		switch err {
		case unix.EAGAIN, unix.ECONNABORTED, unix.EINTR:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			l.pauseAccept(err)
		default:
			l.stats.acceptErrs[causeOther].Add(1)
			l.e.logger().Error("eventloop: accept failed", "err", err)
		}
		return false
	}
	l.acceptDelay = 0
	if !l.e.admit() {
		l.e.stats.rejected.Add(1) // counted before the client can see the close
		unix.Close(nfd)
		return true
	}
	l.register(nfd)
	return true
}

// stopAccepting takes the listeners out of the poller for good
// (StopAccept). With take, for a StopAccept that waits for this loop, it
// then serves the connections queued on them at that moment (takeQueued).
func (l *loop) stopAccepting(take bool) {
	fds := l.lnFds
	l.lnFds = nil
	if l.acceptPaused || l.shutting {
		return
	}
	for _, fd := range fds {
		l.p.del(fd)
	}
	for _, fd := range fds {
		if take {
			l.takeQueued(fd)
		}
	}
}

// takeQueued serves the connections waiting in listener fd's queue once
// this loop has stopped watching it. The kernel wakes one waiter of a
// listening socket for each connection (EPOLLEXCLUSIVE; io_uring's accept
// waits exclusively too), and a wakeup that reached this loop as it
// stopped accepting goes to no other waiter: another server of the same
// socket (the next engine of a zero-downtime restart) would not see the
// connection until the next one arrived. Taking what is queued now (as
// many as poll(2) says are there, up to 256) leaves none of them waiting
// for that wakeup; later connections wake the other waiters as usual.
func (l *loop) takeQueued(fd int) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for i := 0; i < 256 && !l.acceptPaused; i++ {
		if n, err := unix.Poll(pfd, 0); err != nil || n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			return
		}
		if !l.acceptOne(fd) {
			return
		}
	}
}

// whenAcceptsEnded calls done once no accept of this loop is in flight
// any more: at once with epoll (accept4 runs on the loop), or, with
// io_uring, when the last completion of each canceled multishot accept
// has been handled (uring.accepted) or the ring closes.
func (l *loop) whenAcceptsEnded(done func()) {
	if l.u == nil || !l.u.acceptsArmed() {
		done()
		return
	}
	l.u.acceptsEnded = append(l.u.acceptsEnded, done)
}

// pauseAccept takes the listeners out of the poller after accept failed
// for want of descriptors or memory, and sets when to try again.
func (l *loop) pauseAccept(err error) {
	if l.acceptDelay == 0 {
		l.acceptDelay = 5 * time.Millisecond
	} else if l.acceptDelay *= 2; l.acceptDelay > time.Second {
		l.acceptDelay = time.Second
	}
	l.e.stats.acceptErrors.Add(1)
	l.stats.acceptErrs[acceptCause(err)].Add(1)
	l.e.logger().Warn("eventloop: accept failed; pausing accepts", "err", err, "delay", l.acceptDelay)
	if !l.acceptPaused {
		// Removed and added back, not modified: the kernel refuses to
		// modify a listener watched with EPOLLEXCLUSIVE.
		l.acceptPaused = true
		for _, fd := range l.lnFds {
			l.p.del(fd)
		}
	}
	l.nextAccept = time.Now().Add(l.acceptDelay)
}

// resumeAccept puts the listeners back in the poller.
func (l *loop) resumeAccept() {
	l.acceptPaused = false
	if l.shutting {
		return // beginShutdown has taken them out
	}
	for _, fd := range l.lnFds {
		if err := l.p.add(fd, l.lnWant, listenerTag); err != nil {
			l.e.logger().Error("eventloop: cannot watch the listener again; this loop no longer accepts", "err", err)
		}
	}
}

// newConn takes a Conn from the loop's slab: connections are allocated a
// hundred at a time, which keeps an idle connection's memory small.
func (l *loop) newConn() *Conn {
	if len(l.slab) == 0 {
		l.slab = make([]Conn, 128)
	}
	c := &l.slab[0]
	l.slab = l.slab[1:]
	return c
}

// admit takes a place for a new connection among the engine's MaxConns
// (shared by every loop: the count is taken with compare-and-swap, so two
// loops accepting at once cannot both take the last place), or reports
// false when there is none. A connection admitted holds its place until
// closeNow gives it back.
func (e *Engine) admit() bool {
	max := int64(e.MaxConns)
	for {
		n := e.stats.active.Load()
		if max > 0 && n >= max {
			return false
		}
		if e.stats.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// register makes an accepted descriptor, admitted, a connection of the
// loop and calls OnOpen.
func (l *loop) register(fd int) {
	if l.noDelay {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if l.gen++; l.gen > maxGeneration {
		l.gen = 1
	}
	c := l.newConn()
	*c = Conn{fd: int32(fd), loop: l}
	c.gen.Store(l.gen)
	c.node.c = c
	if fd >= len(l.conns) {
		n := max(2*len(l.conns), fd+1, 64)
		grown := make([]*Conn, n)
		copy(grown, l.conns)
		l.conns = grown
	}
	if err := l.p.add(fd, wantRead, int32(l.gen)); err != nil {
		l.e.logger().Error("eventloop: cannot watch an accepted connection; closing it", "err", err)
		unix.Close(fd)
		l.e.stats.active.Add(-1) // admit's place
		return
	}
	l.conns[fd] = c
	l.nconns++
	l.e.stats.accepted.Add(1)
	l.stats.accepted.Add(1)
	if l.wheel != nil {
		c.lastTick = l.wheel.now
		l.wheel.insert(&c.node, l.wheel.now+l.wheel.ttl)
	}
	if l.tls != nil {
		l.startTLS(c) // OnOpen once the handshake has succeeded
		return
	}
	l.dispatch(c, cbOpen)
}

// acceptCause is err's index in AcceptErrorCauses.
func acceptCause(err error) int {
	switch err {
	case unix.EMFILE:
		return causeEMFILE
	case unix.ENFILE:
		return causeENFILE
	case unix.ENOBUFS:
		return causeENOBUFS
	case unix.ENOMEM:
		return causeENOMEM
	}
	return causeOther
}
