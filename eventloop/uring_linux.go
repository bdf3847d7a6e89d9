//go:build linux

package eventloop

import (
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The io_uring backend. Each loop owns one ring, created by the loop's
// goroutine on its locked OS thread and entered only from it
// (IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_DEFER_TASKRUN). A round of the
// loop is one io_uring_enter(2): it submits what the previous round
// queued (sends, receives armed again, cancellations) and waits for
// completions, which the round then hands to the connections the way the
// epoll backend hands them readiness:
//
//   - accepting is one multishot accept per listener: each completion is
//     a new connection; one without IORING_CQE_F_MORE has ended (an
//     error such as EMFILE pauses accepting, as with epoll);
//   - receiving is one multishot receive per connection, into buffers
//     the kernel takes from one ring of provided buffers per loop
//     (IORING_REGISTER_PBUF_RING): an idle connection holds no buffer. A
//     buffer goes back to the ring as soon as OnData has returned (what
//     OnData leaves unread is copied into the connection's own buffer,
//     as with epoll), so a connection cannot hoard them; when the ring
//     runs dry a receive ends with ENOBUFS and is armed again, losing
//     nothing. Pausing (PauseRead, the high watermark) cancels the
//     receive; data that completes before the cancellation is kept for
//     later, not offered;
//   - sending: a connection has at most one send in flight, of the first
//     chunk of its output; output written meanwhile gathers behind it,
//     and the send for it is prepared at the end of the round, so that
//     everything a round wrote to a connection goes in one request. The
//     chunks live out of the Go heap (anonymous mappings): the kernel
//     reads them after the Go code has moved on;
//   - other goroutines wake the loop through an eventfd that the ring
//     reads with a request of its own: they never touch the ring.
//
// A request's user_data holds an operation, the descriptor and the low
// bits of the connection's generation (userData), never a pointer. A
// closed connection's requests are canceled, and its descriptor is closed
// and its slot freed only when the last of them has completed: until
// then the descriptor number cannot be reused, so a late completion
// cannot be taken for another connection's.

// Sizes of a loop's ring. The completion ring is four times the
// submission ring: a round's completions include a receive for every
// connection that sent something, and a new connection for every one
// accepted.
//
// The provided receive buffers of a loop: uringBufCount buffers of
// uringBufSize bytes (8 MiB of address space; memory only as touched).
//
// Variables, so that the tests can make them small.
var (
	uringSQEntries uint32 = 2048
	uringCQEntries uint32 = 8192
	uringBufCount         = 2048
	uringBufSize          = 4096
	// With incremental consumption (Linux 6.12) receives share large
	// buffers: 64 of 64 KiB (4 MiB of address space).
	uringBufInc = true
	// How long an enter that submitted sends waits for completions
	// beyond theirs before it takes what came (see poll): 50 µs when a
	// send's completion sets something going or the loop is busy, 5 ms
	// when nothing waits on the sends.
	uringSendWaitUs  uint32 = 50
	uringQuietWaitUs uint32 = 5000
	uringIncBufCount        = 64
	uringIncBufSize         = 64 << 10
)

// The operations a user_data names.
const (
	opRecv uint8 = 1 + iota
	opSend
	opAccept
	opWake
	opCancel
)

// Per-descriptor state of the backend.
const (
	stWant      uint16 = 1 << iota // input is wanted: a receive (or, for a listener, accepting) should be armed
	stArmed                        // a multishot receive or accept is in flight
	stCancel                       // and its cancellation has been asked for
	stSend                         // a send is in flight
	stSendQ                        // a send is to be prepared at the end of the round
	stListener                     // a listening socket
	stClosed                       // the connection is closed; the descriptor waits for its last completion
	stShutWr                       // shutdown(2) SHUT_WR once the output is out (CloseWrite)
	stUnread                       // input came while reading was paused: offer it when reading resumes
	stPlainSend                    // a SENDMSG of this connection completed with EAGAIN: plain SENDs from now on (see sent)
)

// uring is the io_uring backend of one loop.
type uring struct {
	l            *loop
	r            *ring    // nil until the loop's goroutine starts it
	br           *bufRing // the provided receive buffers
	wakefd       int      // the eventfd other goroutines write
	wakePending  atomic.Bool
	scratch      []byte // out of the heap: the 8 bytes the eventfd is read into, then the round's msghdrs
	msgs         int    // msghdrs of scratch used this round
	st           []uint16
	sendLen      []uint32           // by descriptor: the bytes of the send in flight, counted in Stats when made
	offers       []*Conn            // connections whose input kept while paused is to be offered at the end of the round
	sendq        []*Conn            // connections whose send is prepared at the end of the round
	held         map[int32][][]byte // chunks that sends of closed connections still read
	spare        [][]byte           // output chunks beyond the loop's free list (see dropChunk)
	inflight     int                // requests whose last completion has not come
	closing      bool
	busyness              // inputs counted by connection (busy.go; see want)
	followUp     bool     // a send of this round sets something going when it completes (see prepareSends)
	published    uint16   // br.tail at the last publish
	acceptsEnded []func() // StopAccept's waits for the canceled multishot accepts to end
}

func newUring(l *loop) (*uring, error) {
	// Blocking: the ring's read waits for it (a non-blocking eventfd would
	// make that read fail with EAGAIN instead of waiting).
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	u := &uring{l: l, wakefd: fd}
	u.began = busyNow()
	return u, nil
}

// start creates the ring. It runs on the loop's goroutine, locked to its
// thread, which the ring then belongs to.
func (u *uring) start() error {
	r, err := newRing(uringSQEntries, uringCQEntries)
	if err != nil {
		return err
	}
	r.registerRingFd()
	var br *bufRing
	if uringBufInc {
		br, _ = newBufRing(r, 0, uringIncBufCount, uringIncBufSize, true)
	}
	if br == nil { // before Linux 6.12: a buffer a receive
		br, err = newBufRing(r, 0, uringBufCount, uringBufSize, false)
	}
	if err != nil {
		r.close()
		return err
	}
	scratch, err := unix.Mmap(-1, 0, scratchSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		r.close()
		br.unmap()
		return os.NewSyscallError("mmap", err)
	}
	u.r, u.br, u.scratch, u.published = r, br, scratch, br.tail
	u.armWake()
	for fd, s := range u.st { // the listeners given before the start
		if s&stWant != 0 {
			u.sync(int32(fd), 0)
		}
	}
	return nil
}

// grow makes room in the state table for fd.
func (u *uring) grow(fd int) {
	if fd >= len(u.st) {
		n := max(2*len(u.st), fd+1, 64)
		st := make([]uint16, n)
		copy(st, u.st)
		u.st = st
		sl := make([]uint32, n)
		copy(sl, u.sendLen)
		u.sendLen = sl
	}
}

// add starts watching fd: a listener (accepting) or a connection
// (receiving, if in says so).
func (u *uring) add(fd int, in interest, tag int32) error {
	u.grow(fd)
	if tag == listenerTag {
		u.st[fd] |= stListener | stWant
		u.sync(int32(fd), 0)
		return nil
	}
	u.st[fd] = 0
	if in&wantRead != 0 {
		u.st[fd] = stWant
	}
	u.sync(int32(fd), uint32(tag))
	return nil
}

// mod changes what is wanted of fd: whether input is (wanting output
// needs nothing: a send is in flight while output waits).
func (u *uring) mod(fd int, in interest, tag int32) error {
	if in&(wantRead|shared) != 0 {
		if s := u.st[fd]; s&stUnread != 0 {
			u.st[fd] = s &^ stUnread
			u.offers = append(u.offers, u.l.conns[fd])
		}
		u.st[fd] |= stWant
	} else {
		u.st[fd] &^= stWant
	}
	u.sync(int32(fd), uint32(tag))
	return nil
}

// del stops watching fd (a listener: accepting pauses or stops).
func (u *uring) del(fd int) error {
	if fd < len(u.st) {
		u.st[fd] &^= stWant
		u.sync(int32(fd), 0)
	}
	return nil
}

// sync arms fd's multishot receive (or accept) if it is wanted and not
// armed, or asks for its cancellation if it is armed and no longer
// wanted. Before the ring exists it does nothing: start arms.
func (u *uring) sync(fd int32, gen uint32) {
	s := u.st[fd]
	if u.r == nil || u.closing || s&stClosed != 0 {
		return
	}
	op := opRecv
	if s&stListener != 0 {
		op = opAccept
	}
	switch {
	case s&stWant != 0 && s&stArmed == 0:
		e := u.sqe()
		if op == opAccept {
			prepAcceptMultishot(e, fd, userData(opAccept, fd, 0))
		} else {
			prepRecvMultishot(e, fd, u.br.bgid, userData(opRecv, fd, gen))
		}
		u.st[fd] |= stArmed
		u.inflight++
	case s&stWant == 0 && s&stArmed != 0 && s&stCancel == 0:
		if op == opAccept {
			gen = 0
		}
		u.cancel(userData(op, fd, gen), -1)
		u.st[fd] |= stCancel
	}
}

// cancel asks for the cancellation of the request whose user_data is
// target, or, with fd >= 0, of every request on fd.
func (u *uring) cancel(target uint64, fd int32) {
	e := u.sqe()
	if fd >= 0 {
		prepCancel(e, 0, fd, iorCancelFD|iorCancelAll, userData(opCancel, fd, 0))
	} else {
		prepCancel(e, target, 0, 0, userData(opCancel, 0, 0))
	}
	u.inflight++
}

// sqe returns a free submission entry, submitting what is queued to make
// room when the ring is full.
func (u *uring) sqe() *uringSQE {
	for {
		if e := u.r.sqe(); e != nil {
			return e
		}
		if err := u.r.enter(false, 0); err != nil {
			u.l.e.logger().Error("eventloop: io_uring submission failed", "err", err)
			time.Sleep(time.Millisecond)
		}
	}
}

// armWake queues the read of the wake-up eventfd.
func (u *uring) armWake() {
	prepRead(u.sqe(), int32(u.wakefd), u.scratch[:8], userData(opWake, 0, 0))
	u.inflight++
}

// wake makes the loop's enter return, from any goroutine: the eventfd is
// written only when no wake-up is pending.
func (u *uring) wake() {
	if u.wakePending.CompareAndSwap(false, true) {
		one := [8]byte{1}
		unix.Write(u.wakefd, one[:])
	}
}

// closeConn is the backend's part of closing c: its requests are
// canceled, and its descriptor is closed once they have all completed.
// The chunk a send in flight reads is kept until then; the rest of the
// output goes back to the loop.
func (u *uring) closeConn(c *Conn) {
	fd := c.fd
	s := u.st[fd]&^(stWant|stSendQ|stShutWr) | stClosed
	u.st[fd] = s
	if s&stSend != 0 {
		// The send in flight reads the first chunks (as many as its
		// iovec has): keep them all until its completion.
		if u.held == nil {
			u.held = make(map[int32][][]byte)
		}
		u.held[fd] = c.out
		c.out = nil
	}
	if s&(stArmed|stSend) != 0 && u.r != nil && !u.closing {
		u.cancel(0, fd)
		u.st[fd] |= stCancel
	}
	u.release(fd)
}

// release closes a closed connection's descriptor once no request on it
// is in flight.
func (u *uring) release(fd int32) {
	if s := u.st[fd]; s&stClosed != 0 && s&(stArmed|stSend) == 0 {
		u.st[fd] = 0
		unix.Close(int(fd))
		if l := u.l; l.acceptPaused && !u.closing {
			l.resumeAccept() // a descriptor is free: try again now
		}
	}
}

// conn returns the open connection a completion is about, or nil.
func (u *uring) conn(fd int32, gen uint32) *Conn {
	l := u.l
	if int(fd) >= len(l.conns) {
		return nil
	}
	c := l.conns[fd]
	if c == nil || c.generation() != gen || c.flags&fClosed != 0 {
		return nil
	}
	return c
}

// poll is the loop's round: submit what the previous round queued, wait
// up to ms milliseconds for completions (ms < 0: until one comes), and
// hand each to its connection.
func (u *uring) poll(l *loop, ms int) error {
	if u.r == nil {
		if err := u.start(); err != nil {
			return err
		}
	}
	sends := u.prepareSends()
	if u.br.tail != u.published {
		u.br.publish()
		u.published = u.br.tail
	}
	wait := ms != 0 && u.r.ready() == 0
	// The round's sends mostly complete while they are submitted, and
	// their completions would end the wait at once, costing a second
	// enter a round. So the enter waits for the sends' completions and
	// want more, with IORING_FEAT_MIN_TIMEOUT (Linux 6.12) for up to a
	// minimum wait, and then for any one. The minimum wait bounds what a
	// send that does not complete (its peer reads nothing) can hold up:
	// without it another connection's lone request would wait for a
	// second completion (TestNonReaderDoesNotHoldOthers). It is
	// uringSendWaitUs when what a send's completion sets going (the next
	// chunk, a close after flush, OnWritable) must not wait long, or when
	// the loop is busy; uringQuietWaitUs when nothing waits on the sends
	// and want is 1 (ping-pong): a timer beyond the scheduler's next tick
	// costs next to nothing, where the 50 µs one was 12% of the loop's CPU
	// with one connection (hrtimer_cancel). A request/response round is
	// one system call either way.
	want := u.want()
	if want > 1 && wait {
		l.stats.gathers.Add(1)
	}
	batch := uint32(sends) + want
	minWait := uringSendWaitUs
	if want > 1 {
		minWait = busyWaitUs
	} else if sends > 0 && !u.followUp {
		minWait = uringQuietWaitUs
	}
	err := u.r.enterBatch(wait, ms, batch, minWait)
	u.msgs = 0 // the kernel has taken the msghdrs
	if err != nil {
		if err != errDroppedCQEs {
			return err
		}
		l.stats.cqOverflows.Add(1)
		l.e.logger().Error("eventloop: the kernel dropped io_uring completions (the completion ring overflowed and it had no memory to keep them)", "err", err)
	}
	if u.r.overflowed() {
		l.stats.cqOverflows.Add(1)
	}
	u.reap()
	u.endRound()
	u.offerUnread()
	return nil
}

// offerUnread offers the input kept while reading was paused to the
// connections that read again, the way a receive would have offered it.
func (u *uring) offerUnread() {
	for i, c := range u.offers {
		u.offers[i] = nil
		if c != nil && c.flags&(fClosed|fClosing|fPaused|fOverHigh|fReadEOF) == 0 && len(c.in) > 0 {
			u.l.offer(c, c.in)
		}
	}
	u.offers = u.offers[:0]
}

// reap hands every completion that is ready to its connection.
func (u *uring) reap() {
	r := u.r
	for i := 0; r.ready() > 0; i++ {
		if i&63 == 63 {
			u.l.yield() // a long batch (slow callbacks, a traced process)
		}
		cqe := r.cqes[r.head&r.cqMask]
		r.advance()
		u.complete(&cqe)
	}
}

// want is how many completions beyond its sends' the next wait asks
// for: 1 as a rule, which ends the wait as soon as some input comes, the
// way epoll_wait(2) returns; busyWant when the loop is busy, with
// input from many connections (count), which gather in the kernel during
// the minimum wait (with DEFER_TASKRUN a waiting ring is woken only when
// that many completions are pending, or when the minimum wait ends). A
// busy loop is then woken once for the input of many connections; when
// few connections are active that wait would hold each request up to
// 50 µs, and their peers, waiting for the answers, with it. Measured
// side by side with the C epoll server (3 interleaved rounds of perf
// stat and echoload; BENCHMARKS.md): in ping-pong at 64 and 1000
// connections the loop's CPU a message went from 0.86x and 0.81x the C
// server's (each wait asking for as many as the last round had) to 0.73x
// and 0.73x, and at 8 connections its rate from 0.70x the C server's to
// no less than it.
func (u *uring) want() uint32 {
	if u.gathering() {
		return busyWant
	}
	return 1
}

// complete handles one completion.
func (u *uring) complete(cqe *uringCQE) {
	op, fd, gen := splitUserData(cqe.userData)
	final := cqe.flags&iorCQEFMore == 0
	if final {
		u.inflight--
	}
	switch op {
	case opRecv:
		u.received(fd, gen, cqe, final)
	case opSend:
		u.sent(fd, gen, cqe)
	case opAccept:
		u.accepted(fd, cqe, final)
	case opWake:
		u.wakePending.Store(false)
		if !u.closing {
			u.armWake()
			u.l.runTasks()
		}
	}
}

// received handles a completion of fd's multishot receive.
func (u *uring) received(fd int32, gen uint32, cqe *uringCQE, final bool) {
	l := u.l
	var bid uint16
	var data []byte
	retired := false
	if cqe.flags&iorCQEFBuffer != 0 {
		bid = uint16(cqe.flags >> iorCQEBufferShft)
		data, retired = u.br.take(bid, int(cqe.res), cqe.flags)
	}
	if final {
		u.st[fd] &^= stArmed | stCancel
	}
	c := u.conn(fd, gen)
	if c == nil {
		if retired {
			u.br.put(bid)
		}
		if final {
			u.release(fd)
		}
		return
	}
	switch res := cqe.res; {
	case res > 0 && data != nil:
		u.input(c, data)
		if u.count(fd) {
			u.epochEnd(busyNow(), u.l.stats.bytesIn.Load())
		}
		if retired {
			u.br.put(bid)
		}
	case res == 0:
		if retired {
			u.br.put(bid)
		}
		switch {
		case c.flags&(fClosing|fReadEOF) != 0:
		case c.flags&(fPaused|fOverHigh) != 0:
			// Reading is paused: the receive armed when it resumes finds
			// the end again, after the input kept meanwhile.
		default:
			u.st[fd] &^= stWant // the stream has ended: nothing more to receive
			l.eof(c)
		}
		return
	case res == -int32(unix.ENOBUFS):
		l.stats.recvNoBufs.Add(1) // armed again below, after the buffers come back
	case res == -int32(unix.ECANCELED):
	case res < 0:
		l.closeNow(c, os.NewSyscallError("recv", unix.Errno(-res)))
		return
	}
	if final && c.flags&fClosed == 0 {
		u.sync(fd, gen)
	}
}

// input hands data received for c to OnData, as the epoll backend's read
// does. While c is paused or over the high watermark (its receive being
// canceled) the data is kept unread for later; once c is closing it is
// dropped, as shutdown(2) SHUT_RD drops it.
func (u *uring) input(c *Conn, data []byte) {
	l := u.l
	l.stats.bytesIn.Add(uint64(len(data)))
	l.stats.msgsIn.Add(1)
	if l.wheel != nil {
		c.lastTick = l.wheel.now
	}
	if c.tls != nil {
		l.inputTLS(c, data)
		return
	}
	switch {
	case c.flags&fClosing != 0:
	case c.flags&(fPaused|fOverHigh) != 0:
		c.in = append(c.in, data...)
		u.st[c.fd] |= stUnread
	case len(c.in) > 0:
		c.in = append(c.in, data...)
		l.offer(c, c.in)
	default:
		l.offer(c, data)
	}
}

// accepted handles a completion of listener lfd's multishot accept.
func (u *uring) accepted(lfd int32, cqe *uringCQE, final bool) {
	l := u.l
	if final {
		u.st[lfd] &^= stArmed | stCancel
	}
	if cqe.res >= 0 {
		nfd := int(cqe.res)
		// A multishot accept may complete after accepting stopped (its
		// cancellation is not yet done): the kernel has taken the
		// connection out of the listen queue, so it is served here, as
		// it would have been had it come a moment earlier. Only an
		// engine that is stopping closes it (StopAccept hands the queue
		// to another server, which cannot have this one).
		switch {
		case u.closing || l.shutting:
			unix.Close(nfd) // accepted by the kernel while the engine stops
		case !l.e.admit():
			l.e.stats.rejected.Add(1) // counted before the client can see the close
			unix.Close(nfd)
		case l.e.noAccept.Load():
			l.stopAccepting(false) // StopAccept's task for this loop may still be queued
			l.register(nfd)
		default:
			l.acceptDelay = 0
			l.register(nfd)
		}
	} else {
		switch err := unix.Errno(-cqe.res); err {
		case unix.EAGAIN, unix.ECONNABORTED, unix.EINTR, unix.ECANCELED:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			l.pauseAccept(err)
		default:
			l.stats.acceptErrs[causeOther].Add(1)
			l.e.logger().Error("eventloop: accept failed", "err", err)
		}
	}
	if final {
		u.sync(lfd, 0)
		if len(u.acceptsEnded) > 0 && !u.closing && !l.shutting {
			// For the StopAccept that waits: the wakeup of a connection
			// may have reached this accept while it was being canceled
			// (see loop.takeQueued).
			l.takeQueued(int(lfd))
		}
		if len(u.acceptsEnded) > 0 && !u.acceptsArmed() {
			u.endAccepts()
		}
	}
}

// acceptsArmed reports whether a multishot accept of this ring is in
// flight (armed, or canceled without its last completion yet).
func (u *uring) acceptsArmed() bool {
	for _, s := range u.st {
		if s&(stListener|stArmed) == stListener|stArmed {
			return true
		}
	}
	return false
}

// endAccepts calls the functions waiting for the accepts to end
// (StopAccept's, see loop.whenAcceptsEnded).
func (u *uring) endAccepts() {
	for _, f := range u.acceptsEnded {
		f()
	}
	u.acceptsEnded = nil
}

// close ends the backend: every request is canceled and its last
// completion awaited (for up to 5 s), so that nothing the kernel still
// uses is unmapped; then the descriptors of closed connections, the ring
// and the eventfd are closed. It runs on the loop's goroutine, once its
// connections are closed (or before the ring was ever started).
func (u *uring) close() {
	defer u.endAccepts() // no accept is in flight once the ring is gone
	if r := u.r; r != nil {
		u.closing = true
		u.sendq = u.sendq[:0]
		e := u.sqe()
		prepCancel(e, 0, 0, iorCancelAny|iorCancelAll, userData(opCancel, 0, 0))
		u.inflight++
		for deadline := time.Now().Add(5 * time.Second); u.inflight > 0 && time.Now().Before(deadline); {
			if err := r.enter(true, 100); err != nil {
				break
			}
			u.reap()
		}
		for fd, s := range u.st {
			if s&stClosed != 0 {
				unix.Close(fd)
			}
		}
		u.st, u.sendLen = nil, nil
		r.close()
		if u.inflight == 0 {
			u.br.unmap()
			unix.Munmap(u.scratch)
		} else {
			// The kernel may still write into them: leave them mapped.
			u.l.e.logger().Error("eventloop: io_uring requests still in flight at close; their buffers stay mapped", "requests", u.inflight)
		}
		u.r = nil
	}
	unix.Close(u.wakefd)
	u.wakefd = -1
}

// generation is c's generation, as a completion carries it.
func (c *Conn) generation() uint32 { return c.gen.Load() & genMask }
