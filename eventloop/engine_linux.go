//go:build linux

package eventloop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// ListenAndServe listens on network ("tcp", "tcp4", "tcp6", "unix", "udp",
// "udp4", "udp6") and addr, and serves until Shutdown or Close. With
// ReusePort (IP networks) each loop gets its own listener.
func (e *Engine) ListenAndServe(network, addr string) error {
	n := e.loopCount()
	var lns []*socket.Socket
	count := 1
	if e.ReusePort && network != "unix" {
		count = n
	}
	for i := 0; i < count; i++ {
		ln, err := listen(network, addr, e.ReusePort && network != "unix")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
		if i == 0 && count > 1 {
			addr = ln.LocalAddr().String() // the others share the port the first one got
		}
	}
	return e.Serve(lns...)
}

// listen opens a listening (or, for UDP, bound) socket.
func listen(network, addr string, reusePort bool) (*socket.Socket, error) {
	var fam socket.Family
	typ := socket.SOCK_STREAM
	switch network {
	case "tcp", "tcp4", "udp", "udp4":
		fam = socket.AF_INET
	case "tcp6", "udp6":
		fam = socket.AF_INET6
	case "unix":
		fam = socket.AF_UNIX
	default:
		return nil, fmt.Errorf("eventloop: unknown network %q", network)
	}
	if network[0] == 'u' && network != "unix" {
		typ = socket.SOCK_DGRAM
	}
	sa, err := socket.ParseAddr(fam, addr)
	if err != nil && fam == socket.AF_INET && (network == "tcp" || network == "udp") {
		fam = socket.AF_INET6
		sa, err = socket.ParseAddr(fam, addr)
	}
	if err != nil {
		return nil, err
	}
	s, err := socket.New(fam, typ, 0)
	if err != nil {
		return nil, err
	}
	if fam != socket.AF_UNIX {
		s.SetReuseAddr(true)
		if reusePort {
			if err := s.SetReusePort(true); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	if err := s.Bind(sa); err != nil {
		s.Close()
		return nil, err
	}
	if typ == socket.SOCK_STREAM {
		if err := s.Listen(socket.SOMAXCONN); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (e *Engine) loopCount() int {
	if e.Loops > 0 {
		return e.Loops
	}
	return runtime.GOMAXPROCS(0)
}

// Serve runs the loops on the given listening sockets (stream sockets that
// listen, or bound UDP sockets) until Shutdown or Close, then returns
// ErrEngineClosed. With one stream listener every loop watches it; with
// several (SO_REUSEPORT) each loop watches its own. The engine closes the
// listeners when it stops.
func (e *Engine) Serve(listeners ...*socket.Socket) error {
	if e.Handler == nil {
		return errors.New("eventloop: no Handler")
	}
	if len(listeners) == 0 {
		return errors.New("eventloop: no listener")
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("eventloop: Serve called twice")
	}
	if e.closing.Load() {
		e.mu.Unlock()
		return ErrEngineClosed
	}
	e.started = true
	e.done = make(chan struct{})
	e.listeners = listeners
	n := e.loopCount()
	udp := listeners[0].Type() == socket.SOCK_DGRAM
	if udp {
		n = len(listeners)
		if _, ok := e.Handler.(PacketHandler); !ok {
			e.mu.Unlock()
			return errors.New("eventloop: a UDP engine needs a Handler with OnPacket")
		}
	}
	for i := 0; i < n; i++ {
		l, err := newLoop(e, i)
		if err != nil {
			e.mu.Unlock()
			e.closeLoops()
			return err
		}
		e.loops = append(e.loops, l)
	}
	// Listeners: one per loop (SO_REUSEPORT or UDP), or one for all.
	for i, l := range e.loops {
		var ln *socket.Socket
		var flags uint32 = unix.EPOLLIN
		switch {
		case len(listeners) == len(e.loops):
			ln = listeners[i]
		case len(listeners) == 1:
			ln = listeners[0]
			flags |= unix.EPOLLEXCLUSIVE
		default:
			e.mu.Unlock()
			e.closeLoops()
			return fmt.Errorf("eventloop: %d listeners for %d loops: give 1 or %d", len(listeners), len(e.loops), len(e.loops))
		}
		if e.noAccept {
			continue // StopAccept came first
		}
		if err := l.addListener(ln, flags, udp); err != nil {
			e.mu.Unlock()
			e.closeLoops()
			return err
		}
	}
	loops := e.loops
	e.mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, len(loops))
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.run(); err != nil {
				errs <- err
				e.Close()
			}
		}()
	}
	wg.Wait()
	e.closeLoops()
	for _, ln := range listeners {
		ln.Close()
	}
	close(e.done)
	select {
	case err := <-errs:
		return err
	default:
		return ErrEngineClosed
	}
}

func (e *Engine) closeLoops() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.loops {
		l.closeFds()
	}
}

// Addr returns the address of the (first) listener, or nil before Serve.
func (e *Engine) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.listeners) == 0 {
		return nil
	}
	return e.listeners[0].LocalAddr()
}

// Shutdown stops accepting at once, sends every connection's pending
// output, closes the connections and stops the loops. If ctx ends first,
// it closes what is left and returns ctx's error.
func (e *Engine) Shutdown(ctx context.Context) error {
	if !e.closing.CompareAndSwap(false, true) {
		return e.wait(ctx)
	}
	e.broadcast(func(l *loop) { l.beginShutdown(false) })
	if err := e.wait(ctx); err != nil {
		e.broadcast(func(l *loop) { l.beginShutdown(true) })
		<-e.doneChan()
		return err
	}
	return nil
}

// StopAccept stops taking new connections and leaves the open ones alone:
// for a caller (such as socketserver) that waits for its own requests to
// finish before calling Shutdown. It returns once no loop will accept
// again, so every connection accepted before it returned has had its
// OnOpen. It may be called from a callback.
func (e *Engine) StopAccept() {
	stop := func(l *loop) {
		for _, fd := range l.lnFds {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		}
		l.lnFds = nil
	}
	e.mu.Lock()
	e.noAccept = true
	loops := e.loops
	e.mu.Unlock()
	// A loop that calls this from a callback is stopped in place rather
	// than waited for, which would deadlock.
	me := goid()
	var wg sync.WaitGroup
	for _, l := range loops {
		if l.gid.Load() == me {
			stop(l)
			continue
		}
		wg.Add(1)
		t := task{fn: func(l *loop) { stop(l); wg.Done() }}
		if l.submit(t) != nil {
			wg.Done() // stopped: it accepts nothing
		}
	}
	wg.Wait()
}

// Close stops the engine at once: listeners and connections are closed
// without waiting for pending output.
func (e *Engine) Close() error {
	e.closing.Store(true)
	e.broadcast(func(l *loop) { l.beginShutdown(true) })
	return nil
}

func (e *Engine) doneChan() chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done == nil {
		e.done = make(chan struct{})
		close(e.done) // never served
	}
	return e.done
}

func (e *Engine) wait(ctx context.Context) error {
	select {
	case <-e.doneChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) broadcast(f func(*loop)) {
	e.mu.Lock()
	loops := e.loops
	e.mu.Unlock()
	for _, l := range loops {
		l.submit(task{fn: f})
	}
}

// task is work handed to a loop from another goroutine.
type task struct {
	fn   func(*loop)
	c    *Conn
	gen  uint32
	data []byte  // taskWrite: a copy of the caller's bytes
	buf  *[]byte // taskWrite: data's pooled buffer, if it has one
	done func(c *Conn, err error)
	kind uint8
}

// settle ends a task that did not run, or a write that did (err nil): a
// write's bytes leave the connection's queued count (write counted them
// again when it took them) and its buffer goes back to the pool; then
// done is told.
func (t *task) settle(err error) {
	if t.kind == taskWrite {
		t.c.queued.Add(-int64(len(t.data)))
		putAsyncBuf(t.buf)
	}
	if t.done != nil {
		t.done(t.c, err)
	}
}

// asyncBufs holds the buffers AsyncWrite copies into, so that a write from
// another goroutine allocates nothing once the pool is warm. Buffers come
// in one size; longer writes get a buffer of their own.
var asyncBufs = sync.Pool{New: func() any { b := make([]byte, asyncBufSize); return &b }}

const asyncBufSize = 16 << 10

func getAsyncBuf(n int) *[]byte {
	if n > asyncBufSize {
		return nil
	}
	return asyncBufs.Get().(*[]byte)
}

func putAsyncBuf(b *[]byte) {
	if b != nil {
		asyncBufs.Put(b)
	}
}

const (
	taskFunc uint8 = iota
	taskWrite
	taskClose
	taskWake
)

// loop is one event loop: an epoll instance, its connections, and the
// goroutine (locked to an OS thread) that runs them.
type loop struct {
	e    *Engine
	id   int
	epfd int
	evfd int

	events []unix.EpollEvent
	conns  []*Conn // by descriptor
	nconns int
	buf    []byte // the read buffer lent to OnData
	win    []byte // the data offered to the connection in OnData
	rpos   int
	inData *Conn

	lnFds   []int
	lnFlags uint32 // the listeners' epoll events (EPOLLEXCLUSIVE when shared)
	lnUDP   bool

	// Accepting pauses while the process is out of descriptors or memory:
	// the listeners leave the epoll set's interest (level-triggered, they
	// would wake every round) until nextAccept, 5ms doubling to 1s, or
	// until one of the loop's connections closes and frees a descriptor.
	acceptPaused bool
	acceptDelay  time.Duration
	nextAccept   time.Time
	noDelay      bool          // set TCP_NODELAY on accepted connections
	gid          atomic.Uint64 // the loop's goroutine, while it runs (see StopAccept)

	lastYield time.Time // see yield

	mu      sync.Mutex
	tasks   []task
	spare   []task
	stopped bool // under mu: the descriptors are closed
	wakeSet atomic.Bool

	dirty    []*Conn // connections with output written during callbacks
	writable []*Conn // connections owed an OnWritable
	free     [][]byte
	iov      []unix.Iovec
	wheel    *wheel
	tickDur  time.Duration
	nextWh   time.Time
	nextTk   time.Time

	stats     *loopStats
	shutting  bool
	forceStop bool
	gen       uint32
	slab      []Conn
	udp       *udpState
}

const chunkSize = 16 << 10

func newLoop(e *Engine, id int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	size := e.ReadBufferSize
	if size <= 0 {
		size = 64 << 10
	}
	l := &loop{e: e, id: id, epfd: epfd, evfd: evfd, events: make([]unix.EpollEvent, 256),
		buf: make([]byte, size), iov: make([]unix.Iovec, 0, 64), stats: &loopStats{}}
	e.loopStats = append(e.loopStats, l.stats)
	if e.IdleTimeout > 0 {
		l.tickDur = e.IdleTimeout / 8
		if l.tickDur < 10*time.Millisecond {
			l.tickDur = 10 * time.Millisecond
		}
		l.wheel = newWheel(uint32((e.IdleTimeout + l.tickDur - 1) / l.tickDur))
		l.nextWh = time.Now().Add(l.tickDur)
	}
	if _, ok := e.Handler.(Ticker); ok && id == 0 {
		d := e.TickInterval
		if d <= 0 {
			d = time.Second
		}
		l.nextTk = time.Now().Add(d)
	}
	return l, nil
}

// closeFds closes the loop's descriptors once it has stopped. It holds
// the task lock, so no submit can write to the eventfd after it is closed
// (its number may already belong to something else).
func (l *loop) closeFds() {
	l.mu.Lock()
	l.stopped = true
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		unix.Close(l.evfd)
		l.epfd, l.evfd = -1, -1
	}
	left := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	// Settle the work queued after the loop's last round: its goroutine has
	// exited and every connection is closed, so functions see closed
	// connections and writes fail.
	for _, t := range left {
		switch {
		case t.kind == taskFunc:
			t.fn(l)
		default:
			t.settle(ErrConnClosed)
		}
	}
}

func (l *loop) addListener(ln *socket.Socket, flags uint32, udp bool) error {
	fd := ln.Fd()
	l.lnFds = append(l.lnFds, fd)
	l.lnFlags = flags
	l.lnUDP = udp
	if udp {
		l.udp = newUDPState(ln)
	}
	if f := ln.Family(); (f == socket.AF_INET || f == socket.AF_INET6) && !l.e.Nagle {
		l.noDelay = true
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: flags, Fd: int32(fd), Pad: -1}); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// submit queues t for the loop and wakes it if it may be asleep; the
// eventfd is written only when no wake-up is pending. After the loop has
// stopped it returns ErrEngineClosed (and calls t's done with it).
func (l *loop) submit(t task) error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		if t.kind != taskFunc {
			t.settle(ErrEngineClosed)
		}
		return ErrEngineClosed
	}
	l.tasks = append(l.tasks, t)
	if l.wakeSet.CompareAndSwap(false, true) {
		var one = [8]byte{1}
		unix.Write(l.evfd, one[:])
	}
	l.mu.Unlock()
	return nil
}

// runTasks drains the queue of work from other goroutines.
func (l *loop) runTasks() {
	var b [8]byte
	unix.Read(l.evfd, b[:])
	l.wakeSet.Store(false)
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = l.spare[:0]
	l.mu.Unlock()
	for i := range tasks {
		t := &tasks[i]
		switch t.kind {
		case taskFunc:
			t.fn(l)
		case taskWrite, taskClose, taskWake:
			c := t.c
			if c.loop != l || c.gen != t.gen || c.flags&fClosed != 0 {
				t.settle(ErrConnClosed)
				break
			}
			switch t.kind {
			case taskWrite:
				c.write(t.data)
				l.flushDirty()
				t.settle(nil)
			case taskClose:
				l.closeConn(c, nil, false)
			case taskWake:
				l.dispatch(c, func() Action { return l.e.Handler.OnData(c) })
			}
		}
		*t = task{}
	}
	l.spare = tasks[:0]
}

// run is the loop's goroutine.
func (l *loop) run() (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.gid.Store(goid())
	defer l.gid.Store(0)
	defer func() {
		l.closeAll()
	}()
	for {
		if l.shutting && (l.forceStop || l.nconns == 0) {
			return nil
		}
		ms := l.timeoutMs()
		l.yield() // at most every 5ms, busy or about to block
		n, err := unix.EpollWait(l.epfd, l.events, ms)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return os.NewSyscallError("epoll_wait", err)
		}
		for i := 0; i < n; i++ {
			if i&63 == 63 {
				l.yield() // a long batch (slow callbacks, a traced process)
			}
			ev := &l.events[i]
			fd := int(ev.Fd)
			switch {
			case fd == l.evfd:
				l.runTasks()
			case ev.Pad == -1:
				if l.lnUDP {
					l.readPackets(fd)
				} else {
					l.accept(fd)
				}
			default:
				if fd >= len(l.conns) {
					continue
				}
				c := l.conns[fd]
				if c == nil || c.gen != uint32(ev.Pad) {
					continue // an event for a descriptor closed earlier in this batch
				}
				if ev.Events&unix.EPOLLOUT != 0 {
					l.flushConn(c)
				}
				if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 && c.flags&fClosed == 0 {
					l.read(c)
				}
			}
		}
		l.flushDirty()
		l.runWritable()
		l.timers()
		if n == len(l.events) && len(l.events) < 4096 {
			l.events = make([]unix.EpollEvent, 2*len(l.events))
		}
	}
}

// runWritable calls OnWritable for the connections owed one at the start
// of the round; those owed another after it wait for the next round.
func (l *loop) runWritable() {
	n := len(l.writable)
	if n == 0 {
		return
	}
	w := l.e.Handler.(Writabler)
	for i := 0; i < n; i++ {
		c := l.writable[i]
		l.writable[i] = nil
		c.flags &^= fWritableDue
		if c.flags&(fClosed|fClosing) == 0 {
			l.dispatch(c, func() Action { return w.OnWritable(c) })
		}
	}
	l.writable = append(l.writable[:0], l.writable[n:]...)
}

// timeoutMs is how long epoll_wait may sleep: not at all while OnWritable
// calls are due, otherwise until the next wheel tick or OnTick, or forever.
func (l *loop) timeoutMs() int {
	if len(l.writable) > 0 {
		return 0
	}
	var next time.Time
	if l.wheel != nil {
		next = l.nextWh
	}
	if !l.nextTk.IsZero() && (next.IsZero() || l.nextTk.Before(next)) {
		next = l.nextTk
	}
	if l.acceptPaused && (next.IsZero() || l.nextAccept.Before(next)) {
		next = l.nextAccept
	}
	if next.IsZero() {
		return -1
	}
	d := time.Until(next)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

func (l *loop) timers() {
	if l.wheel == nil && l.nextTk.IsZero() && !l.acceptPaused {
		return
	}
	now := time.Now()
	if l.acceptPaused && !now.Before(l.nextAccept) {
		l.resumeAccept()
	}
	if l.wheel != nil {
		for !now.Before(l.nextWh) {
			l.nextWh = l.nextWh.Add(l.tickDur)
			l.wheel.advance(func(c *Conn) uint32 { return c.lastTick }, func(c *Conn) {
				l.closeConn(c, ErrIdleTimeout, true)
			})
		}
	}
	if !l.nextTk.IsZero() && !now.Before(l.nextTk) {
		next, act := callTick(l)
		if next <= 0 {
			l.nextTk = time.Time{}
		} else {
			l.nextTk = now.Add(next)
		}
		if act == Shutdown {
			go l.e.Shutdown(context.Background())
		}
	}
}

func callTick(l *loop) (next time.Duration, act Action) {
	defer func() {
		if p := recover(); p != nil {
			l.e.logger().Error("eventloop: OnTick panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			next, act = time.Second, None
		}
	}()
	return l.e.Handler.(Ticker).OnTick()
}

// accept takes the pending connections of listener fd.
func (l *loop) accept(fd int) {
	for i := 0; i < 256 && !l.shutting; i++ {
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
				l.e.logger().Error("eventloop: accept failed", "err", err)
			}
			return
		}
		l.acceptDelay = 0
		if max := l.e.MaxConns; max > 0 && l.e.stats.active.Load() >= int64(max) {
			unix.Close(nfd)
			l.e.stats.rejected.Add(1)
			continue
		}
		l.register(nfd)
	}
}

// pauseAccept takes the listeners out of the loop's interest after accept
// failed for want of descriptors or memory, and sets when to try again.
func (l *loop) pauseAccept(err error) {
	if l.acceptDelay == 0 {
		l.acceptDelay = 5 * time.Millisecond
	} else if l.acceptDelay *= 2; l.acceptDelay > time.Second {
		l.acceptDelay = time.Second
	}
	l.e.stats.acceptErrors.Add(1)
	l.e.logger().Warn("eventloop: accept failed; pausing accepts", "err", err, "delay", l.acceptDelay)
	if !l.acceptPaused {
		// Removed and added back, not modified: EPOLL_CTL_MOD fails with
		// EINVAL on a listener registered with EPOLLEXCLUSIVE.
		l.acceptPaused = true
		for _, fd := range l.lnFds {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		}
	}
	l.nextAccept = time.Now().Add(l.acceptDelay)
}

// resumeAccept puts the listeners back in the loop's interest.
func (l *loop) resumeAccept() {
	l.acceptPaused = false
	if l.shutting {
		return // beginShutdown has taken them out of the set
	}
	for _, fd := range l.lnFds {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: l.lnFlags, Fd: int32(fd), Pad: -1}); err != nil {
			l.e.logger().Error("eventloop: cannot watch the listener again; this loop no longer accepts", "err", os.NewSyscallError("epoll_ctl", err))
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

func (l *loop) register(fd int) {
	if l.noDelay {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	l.gen++
	c := l.newConn()
	*c = Conn{fd: int32(fd), gen: l.gen, loop: l}
	c.node.c = c
	if fd >= len(l.conns) {
		n := 2 * len(l.conns)
		if n < fd+1 {
			n = fd + 1
		}
		if n < 64 {
			n = 64
		}
		grown := make([]*Conn, n)
		copy(grown, l.conns)
		l.conns = grown
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd), Pad: int32(c.gen)}); err != nil {
		unix.Close(fd)
		return
	}
	l.conns[fd] = c
	l.nconns++
	l.e.stats.accepted.Add(1)
	l.e.stats.active.Add(1)
	if l.wheel != nil {
		c.lastTick = l.wheel.now
		l.wheel.insert(&c.node, l.wheel.now+l.wheel.ttl)
	}
	l.dispatch(c, func() Action { return l.e.Handler.OnOpen(c) })
}

// dispatch runs a callback, recovering a panic (the connection is closed
// and the panic logged), then sends the output it wrote and acts on the
// returned Action.
func (l *loop) dispatch(c *Conn, f func() Action) {
	act := None
	func() {
		defer func() {
			if p := recover(); p != nil {
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
		l.closeConn(c, nil, false)
	case Shutdown:
		go l.e.Shutdown(context.Background())
	}
}

// read reads once into the loop's buffer (or the connection's leftover
// buffer) and calls OnData. Level-triggered epoll reports the socket again
// if more is waiting, so one read per event is enough.
func (l *loop) read(c *Conn) {
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
		l.closeConn(c, os.NewSyscallError("read", err), true)
		return
	case n == 0:
		// The peer closed its side. Offer what is left, then ask the handler
		// (OnEOF), or close once the pending output is out.
		if len(c.in) > 0 {
			l.offer(c, c.in)
		}
		if c.flags&fClosed != 0 {
			return
		}
		if h, ok := l.e.Handler.(EOFHandler); ok {
			c.flags |= fReadEOF
			l.modEvents(c) // stop watching input: level-triggered EOF would repeat
			l.dispatch(c, func() Action { return h.OnEOF(c) })
			return
		}
		l.closeConn(c, nil, false)
		return
	}
	l.stats.bytesIn.Add(uint64(n))
	if l.wheel != nil {
		c.lastTick = l.wheel.now
	}
	if len(c.in) > 0 {
		l.offer(c, c.in)
	} else {
		l.offer(c, l.buf[:n])
	}
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

func readFd(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
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

// flushConn writes c's output with one write or writev, arms EPOLLOUT for
// the rest, applies the watermarks, and finishes a close that waited for
// the output.
func (l *loop) flushConn(c *Conn) {
	for c.outLen > 0 {
		var n int
		var err error
		if len(c.out) == 1 {
			b := c.out[0][c.outOff:]
			r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			n, err = int(r), errnoErr(e)
		} else {
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
			n, err = int(r), errnoErr(e)
			clear(l.iov)
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.closeConn(c, os.NewSyscallError("write", err), true)
			return
		}
		l.stats.bytesOut.Add(uint64(n))
		c.consumeOut(n)
	}
	wantOut := c.outLen > 0
	if wantOut != (c.flags&fWantOut != 0) || l.pauseChanged(c) {
		if wantOut {
			c.flags |= fWantOut
		} else {
			c.flags &^= fWantOut
		}
		l.modEvents(c)
	}
	if c.outLen == 0 && c.flags&fClosing != 0 {
		l.closeConn(c, nil, true)
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
			l.modEvents(c)
		}
		if _, ok := l.e.Handler.(Writabler); ok && c.flags&fWritableDue == 0 {
			c.flags |= fWritableDue
			l.writable = append(l.writable, c)
		}
	}
}

// pauseChanged applies the high watermark: reading stops while the output
// is over it.
func (l *loop) pauseChanged(c *Conn) bool {
	if c.outLen > l.e.highWatermark() && c.flags&fOverHigh == 0 {
		c.flags |= fOverHigh
		return true
	}
	return false
}

func (l *loop) modEvents(c *Conn) {
	var ev uint32
	if c.flags&(fOverHigh|fPaused|fClosing|fReadEOF) == 0 {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if c.flags&fWantOut != 0 {
		ev |= unix.EPOLLOUT
	}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: ev, Fd: c.fd, Pad: int32(c.gen)})
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// getChunk returns an empty output chunk from the loop's free list.
func (l *loop) getChunk() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, chunkSize)
}

func (l *loop) putChunk(b []byte) {
	if cap(b) == chunkSize && len(l.free) < 256 {
		l.free = append(l.free, b[:0])
	}
}

// closeConn closes c. With graceful false, pending output is sent first
// (the descriptor is closed when it is out); with graceful true, or on an
// error, at once.
func (l *loop) closeConn(c *Conn, cause error, now bool) {
	if c.flags&fClosed != 0 {
		return
	}
	if !now && c.outLen > 0 && cause == nil {
		if c.flags&fClosing == 0 {
			c.flags |= fClosing
			unix.Shutdown(int(c.fd), unix.SHUT_RD)
			l.modEvents(c)
		}
		return
	}
	c.flags |= fClosed
	if l.wheel != nil {
		l.wheel.remove(&c.node)
	}
	fd := int(c.fd)
	l.conns[fd] = nil
	l.nconns--
	unix.Close(fd) // also removes it from the epoll set
	if l.acceptPaused {
		l.resumeAccept() // a descriptor is free: try again now
	}
	for _, b := range c.out {
		l.putChunk(b)
	}
	c.out, c.outLen, c.in = nil, 0, nil
	l.e.stats.active.Add(-1)
	l.e.stats.closed.Add(1)
	func() {
		defer func() {
			if p := recover(); p != nil {
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
		for _, fd := range l.lnFds {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		}
		if l.lnUDP {
			l.forceStop = true
		}
	}
	if force {
		l.forceStop = true
	}
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c, nil, force)
		}
	}
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		if c != nil && c.flags&fClosed == 0 {
			l.closeConn(c, ErrEngineClosed, true)
		}
	}
}

// yield passes through the Go scheduler every few milliseconds: before the
// loop polls, and every 64 events of a long batch. To sysmon, a goroutine that has not been
// rescheduled for 10ms is one that runs too long: from then on it takes
// the P away at every blocking epoll_wait and keeps waking every 20µs to
// do it again, which costs a context switch or two per message on the
// loop's CPU (measured: 1.9 against 1.2 a message for one connection,
// and a third of the round-trip rate; see BENCHMARKS.md). A locked
// goroutine's yield hands the thread over and back, so it is not done on
// every round. A loop that goes 10ms without one (a batch of slow
// callbacks) is also preempted by signal: tgkill and a signal return.
// The check costs a clock read.
func (l *loop) yield() {
	now := time.Now()
	if now.Sub(l.lastYield) < 5*time.Millisecond {
		return
	}
	l.lastYield = now
	// Unlocked for the yield: a locked goroutine's Gosched hands the
	// thread to another M and back (four futex calls); an unlocked one
	// just goes round the run queue, and with nothing else to run comes
	// back to the same thread.
	runtime.UnlockOSThread()
	runtime.Gosched()
	runtime.LockOSThread()
}

// goid returns the calling goroutine's id, from the first line of its
// stack trace ("goroutine 42 [running]:"). It is slow (a microsecond) and
// only used to tell whether StopAccept runs on a loop.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
