//go:build linux

package eventloop

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The poller is everything a loop asks of the kernel about readiness: an
// epoll instance and the eventfd that other goroutines write to wake the
// loop. The rest of the engine names no epoll constant and makes no
// epoll_ctl call; it speaks of tokens, interests and readiness.
//
// The seam is cut for a second backend, io_uring (issue 12), whose model
// is completions rather than readiness. What carries over unchanged:
//   - a token is 64 bits the kernel hands back with an event (epoll's
//     data, io_uring's user_data): a descriptor and a tag, never a Go
//     pointer; a connection's tag is its generation, so a report about a
//     descriptor closed and reused since is recognised and dropped;
//   - interest is stated as intent (read, write, shared) and changed when
//     the connection's state changes: for io_uring, wantRead means a
//     multishot recv armed and wantWrite a send in flight;
//   - wait is the loop's one blocking call per round (epoll_wait, or one
//     io_uring_enter that submits and waits), and wake is the only method
//     another goroutine may call (an eventfd write, which an io_uring
//     backend would read with a request of its own, never touching the
//     ring from another thread);
//   - readiness names what the loop does next (read, flush), so an event
//     that already carries the result of a completed recv or send is a
//     readiness the loop's read and flush paths take without a system
//     call of their own.
//
// The loop holds its backend as the interface below: *poller (epoll) or
// *uring (io_uring, uring_linux.go). A round of the loop is one poll,
// which waits and then hands what it learned to the loop's connections:
// readiness, for epoll, which the loop's read and flush paths act on with
// system calls of their own; completions, for io_uring, whose data the
// loop offers to OnData directly. The loop's writes go through writeOut,
// which with io_uring queues a send instead of making one.
type backend interface {
	add(fd int, in interest, tag int32) error
	mod(fd int, in interest, tag int32) error
	del(fd int) error
	// poll waits up to ms milliseconds (-1: until something happens) and
	// handles what happened.
	poll(l *loop, ms int) error
	// closeConn is the backend's part of closing c, whose slot the loop
	// has emptied: its descriptor is closed, at once or once the requests
	// on it have completed.
	closeConn(c *Conn)
	// wake makes poll return; the only method other goroutines call.
	wake()
	// close releases the backend, once no goroutine can wake it.
	close()
}

type poller struct {
	epfd     int
	wakefd   int
	events   []unix.EpollEvent
	full     bool  // the last wait filled events
	woke     int64 // when the last wait returned, if gathering and it brought 1 to busyWant-1 events (busyNow); else 0
	busyness       // inputs counted by connection (busy.go)
	// wakePending is set by the first wake after the loop last drained the
	// eventfd: later wakes skip the write(2) until the loop has seen it.
	wakePending atomic.Bool
}

// token names what an event is about.
type token struct {
	fd  int32
	tag int32 // a connection's generation (> 0), or one of the tags below
}

// Tags of the registrations that are not connections.
const (
	listenerTag int32 = -1 // a listening socket (or a UDP engine's socket)
	wakeTag     int32 = -2 // the poller's own eventfd
)

// maxGeneration bounds a connection's generation so that it stays a
// positive tag and never collides with listenerTag or wakeTag.
const maxGeneration = 1<<31 - 1

// interest is what the loop wants to hear about a descriptor.
type interest uint8

const (
	wantRead  interest = 1 << iota // input, end of input, errors
	wantWrite                      // room to write
	shared                         // a listener watched by several loops: wake one of them (EPOLLEXCLUSIVE)
)

// readiness is what an event reports.
type readiness uint8

const (
	readable readiness = 1 << iota // input or its end or an error: the read that follows finds out which
	writable                       // room to write, or an error the write will report
)

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &poller{epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, 256)}
	p.began = busyNow()
	if err := p.add(wakefd, wantRead, wakeTag); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// close closes the epoll instance and the eventfd. The loop's owner calls
// it once no goroutine can wake it any more.
func (p *poller) close() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
	p.epfd, p.wakefd = -1, -1
}

func epollEvents(in interest) uint32 {
	var ev uint32
	if in&wantRead != 0 {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if in&wantWrite != 0 {
		ev |= unix.EPOLLOUT
	}
	if in&shared != 0 {
		ev = unix.EPOLLIN | unix.EPOLLEXCLUSIVE // a listener: no RDHUP, and EXCLUSIVE allows only IN
	}
	return ev
}

// add starts watching fd with epoll_ctl(2) EPOLL_CTL_ADD.
func (p *poller) add(fd int, in interest, tag int32) error {
	ev := unix.EpollEvent{Events: epollEvents(in), Fd: int32(fd), Pad: tag}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// mod changes what is watched on fd (EPOLL_CTL_MOD). A shared listener
// cannot be modified (the kernel refuses EPOLL_CTL_MOD with
// EPOLLEXCLUSIVE): del and add it instead.
func (p *poller) mod(fd int, in interest, tag int32) error {
	ev := unix.EpollEvent{Events: epollEvents(in), Fd: int32(fd), Pad: tag}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// del stops watching fd (EPOLL_CTL_DEL). Closing a descriptor removes it
// too, so a connection's close does not call it.
func (p *poller) del(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// wait blocks in epoll_wait(2) for up to ms milliseconds (-1: until an
// event) and returns how many events event(i) may read. An interrupted
// wait returns 0 events and no error. When a round fills the event list,
// the list grows (up to 4096) for the next.
func (p *poller) wait(ms int) (int, error) {
	if n := len(p.events); n < 4096 && p.full {
		p.events = make([]unix.EpollEvent, 2*n)
	}
	n, err := unix.EpollWait(p.epfd, p.events, ms)
	if err != nil {
		p.woke = 0
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	p.full = n == len(p.events)
	p.woke = 0
	if p.gathering() && n > 0 && n < busyWant {
		p.woke = busyNow()
	}
	return n, nil
}

// gather lets a busy loop's input gather before its next wait (busy.go):
// the loop sleeps in nanosleep(2) until busyWaitUs have passed since its
// last wait returned (plus the thread's timer slack, 50 µs by default),
// and not at all if handling what that wait brought took longer, or if
// another goroutine has woken the loop (a task: AsyncWrite, Close, a
// shutdown); it reports whether it slept. Meanwhile the kernel queues the
// readiness of the connections whose input comes without waking the
// loop, their peers' writes (which, on loopback, run the loop's side of
// TCP and its wake-up) cost them less, and the next wait takes them all:
// at 1000 TLS connections the server's epoll_pwait calls went from
// 0.07-0.37 a message to 0.01-0.06 with the first form of the busy
// rule, and from 0.00-0.79 to 0.00-0.10 with this one (side by side;
// BENCHMARKS.md gives the CPU time it saves both ends). The sleep is a raw system call, as
// the loop's reads and writes are: the loop keeps its P through it, as
// it does through its callbacks (a handoff to another thread and back
// would cost more than the sleep saves), and the signal the Go runtime
// preempts with ends it early (EINTR), so it never holds up a stop of
// the world.
func (p *poller) gather() bool {
	d := busyWaitUs*1000 - (busyNow() - p.woke)
	if d <= 0 || p.wakePending.Load() {
		return false
	}
	ts := unix.Timespec{Nsec: d}
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
	return true
}

// poll waits for events and hands each to the loop: a wake-up runs the
// tasks queued by other goroutines, a listener accepts (or, for UDP,
// reads datagrams), a connection reads or flushes. A busy loop whose last
// wait brought fewer than busyWant events first lets input gather
// (gather).
func (p *poller) poll(l *loop, ms int) error {
	if ms != 0 && p.woke != 0 && p.gathering() && p.gather() {
		l.stats.gathers.Add(1)
	}
	n, err := p.wait(ms)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if i&63 == 63 {
			l.yield() // a long batch (slow callbacks, a traced process)
		}
		tok, ready := p.event(i)
		switch tok.tag {
		case wakeTag:
			p.woken()
			l.runTasks()
		case listenerTag:
			if l.lnUDP {
				l.readPackets(int(tok.fd))
			} else {
				l.accept(int(tok.fd))
			}
		default:
			l.ready(tok, ready)
			if ready&readable != 0 && p.count(tok.fd) {
				p.epochEnd(busyNow(), l.stats.bytesIn.Load())
			}
		}
	}
	p.endRound()
	return nil
}

// closeConn closes c's descriptor, which also takes it out of epoll.
func (p *poller) closeConn(c *Conn) { unix.Close(int(c.fd)) }

// event returns the i-th event of the last wait.
func (p *poller) event(i int) (token, readiness) {
	ev := &p.events[i]
	var r readiness
	if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
		r |= readable
	}
	if ev.Events&unix.EPOLLOUT != 0 {
		r |= writable
	}
	return token{fd: ev.Fd, tag: ev.Pad}, r
}

// wake makes the loop's wait return, from any goroutine: the eventfd is
// written only when no wake-up is pending. The caller makes sure the
// poller is not closed meanwhile (the loop's task lock).
func (p *poller) wake() {
	if p.wakePending.CompareAndSwap(false, true) {
		one := [8]byte{1}
		unix.Write(p.wakefd, one[:])
	}
}

// woken is the loop's answer to a wakeTag event: it drains the eventfd, so
// that the next wake writes it again.
func (p *poller) woken() {
	var b [8]byte
	unix.Read(p.wakefd, b[:])
	p.wakePending.Store(false)
}
