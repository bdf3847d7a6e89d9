//go:build linux

package eventloop

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// loop is one event loop: a poller, its connections, and the goroutine
// (locked to an OS thread) that runs them.
type loop struct {
	loopIO
	id  int
	p   backend
	u   *uring       // p, when it is io_uring
	tid atomic.Int32 // the OS thread the loop's goroutine is locked to, 0 when it is not (see Engine.callingLoop)

	conns  []*Conn // by descriptor
	nconns int
	buf    []byte // the read buffer lent to OnData

	lnFds  []int
	lnWant interest // how the listeners are watched (shared when every loop watches one)
	lnUDP  bool

	// Accepting pauses while the process is out of descriptors or memory:
	// the listeners leave the poller's interest (level-triggered, they
	// would wake every round) until nextAccept, 5ms doubling to 1s, or
	// until one of the loop's connections closes and frees a descriptor.
	acceptPaused bool
	acceptDelay  time.Duration
	nextAccept   time.Time
	noDelay      bool // set TCP_NODELAY on accepted connections

	lastYield time.Time // see yield

	mu      sync.Mutex
	tasks   []task
	spare   []task
	stopped bool // under mu: the loop has stopped and its poller is closed

	due     []*Conn   // connections owed an OnWritable or an offer of their unread input (fWritableDue, fOfferDue)
	closes  []closing // OnClose calls waiting for the running callback to return
	iov     []unix.Iovec
	wheel   *wheel
	tickDur time.Duration
	nextWh  time.Time
	nextTk  time.Time

	stats     *loopStats
	shutting  bool
	forceStop bool
	gen       uint32 // the last connection's generation (1..maxGeneration)
	slab      []Conn
	udp       *udpState
	tls       *loopTLS // a TLS engine's state (tls_linux.go)
}

func newLoop(e *Engine, id int) (*loop, error) {
	l := &loop{loopIO: loopIO{e: e}, id: id,
		iov: make([]unix.Iovec, 0, 64), stats: &loopStats{}}
	if e.backend == BackendIOUring {
		u, err := newUring(l)
		if err != nil {
			return nil, err
		}
		l.p, l.u = u, u
		l.newChunk, l.dropChunk = u.newChunk, u.dropChunk
	} else {
		p, err := newPoller()
		if err != nil {
			return nil, err
		}
		l.p = p
		l.buf = make([]byte, e.readBufferSize())
	}
	if e.tlsCfg != nil {
		l.tls = newLoopTLS(e)
	}
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
		l.nextTk = time.Now().Add(e.tickInterval())
	}
	return l, nil
}

// run is the loop's goroutine.
func (l *loop) run() (err error) {
	runtime.LockOSThread()
	l.tid.Store(int32(unix.Gettid()))
	defer func() {
		l.closeAll()
		l.stop()
		l.tid.Store(0)
		runtime.UnlockOSThread()
	}()
	for {
		if l.shutting && (l.forceStop || l.nconns == 0) {
			return nil
		}
		ms := l.timeoutMs()
		l.yield() // at most every 5ms, busy or about to block
		if err := l.p.poll(l, ms); err != nil {
			return err
		}
		l.flushDirty()
		l.runDue()
		l.timers()
	}
}

// closing is an OnClose call waiting to be made.
type closing struct {
	c     *Conn
	cause error
}

// enter and leave bracket the loop's running of the handler's code (and
// of tasks, which may call connection methods): connection methods work
// inside, and return ErrWrongLoop outside. The OnClose calls of
// connections closed inside wait until the outermost leave, so that no
// OnClose runs nested in another callback; then the output they wrote
// is sent.
func (l *loop) enter() {
	if l.depth == 0 {
		l.inCallback.Store(true)
	}
	l.depth++
}

func (l *loop) leave() {
	if l.depth == 1 {
		for {
			for i := 0; i < len(l.closes); i++ { // OnClose may close more
				cl := l.closes[i]
				l.closes[i] = closing{}
				l.callOnClose(cl.c, cl.cause)
			}
			l.closes = l.closes[:0]
			if len(l.dirty) == 0 {
				break
			}
			l.flushDirty() // may close connections whose write fails
		}
		l.inCallback.Store(false)
	}
	l.depth--
}

// closed calls OnClose for a closed connection, at once or, inside a
// callback, when it has returned.
func (l *loop) closed(c *Conn, cause error) {
	l.closes = append(l.closes, closing{c, cause})
	if l.depth == 0 {
		l.enter()
		l.leave()
	}
}

func (l *loop) callOnClose(c *Conn, cause error) {
	defer func() {
		if p := recover(); p != nil {
			l.stats.panics.Add(1)
			l.e.logger().Error("eventloop: OnClose panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	l.e.Handler.OnClose(c, cause)
}

// stop marks the loop stopped, closes its poller and settles the work
// queued after its last round: every connection is closed by then, so
// functions see closed connections and writes fail. It holds the task
// lock while closing, so no submit can write to the eventfd after it is
// closed (its number may already belong to something else).
func (l *loop) stop() {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	l.p.close()
	left := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	l.enter()
	defer l.leave()
	for i := range left {
		if t := &left[i]; t.kind == taskFunc {
			t.fn(l)
		} else {
			t.settle(ErrConnClosed)
		}
	}
}

// submit queues t for the loop and wakes it. After the loop has stopped
// it returns ErrEngineClosed (and settles t with it).
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
	l.p.wake()
	l.mu.Unlock()
	return nil
}

// runTasks drains the queue of work from other goroutines.
func (l *loop) runTasks() {
	l.enter()
	defer l.leave()
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
			if c.loop != l || c.gen.Load() != t.gen || c.flags&fClosed != 0 {
				t.settle(ErrConnClosed)
				break
			}
			switch t.kind {
			case taskWrite:
				err := c.send(t.data)
				l.flushDirty()
				t.settle(err)
			case taskClose:
				l.closeAfterFlush(c)
			case taskWake:
				l.offer(c, c.in) // with the input left unread, if any
				l.finishEOF(c)
			}
		}
		*t = task{}
	}
	l.spare = tasks[:0]
}

// offerLater queues c's unread input to be offered to OnData in this
// round, after the running callback.
func (l *loop) offerLater(c *Conn) {
	l.queueDue(c, fOfferDue)
}

// queueDue puts c in the due list for flag (fWritableDue or fOfferDue).
func (l *loop) queueDue(c *Conn, flag uint32) {
	if c.flags&(fWritableDue|fOfferDue) == 0 {
		l.due = append(l.due, c)
	}
	c.flags |= flag
}

// runDue calls OnWritable, then offers the unread input, for the
// connections due at the start of the round; those due again after it
// wait for the next round. Input is offered only while OnData may run
// (not paused, not over the high watermark); when output stands in the
// way, the offer waits for it to drain again.
func (l *loop) runDue() {
	n := len(l.due)
	for i := 0; i < n; i++ {
		c := l.due[i]
		l.due[i] = nil
		f := c.flags
		c.flags &^= fWritableDue | fOfferDue
		if c.flags&(fClosed|fClosing) != 0 {
			continue
		}
		if f&fWritableDue != 0 {
			l.dispatch(c, cbWritable)
		}
		if f&fOfferDue == 0 || len(c.in) == 0 || c.flags&(fClosed|fClosing|fPaused) != 0 {
			continue
		}
		if c.flags&fOverHigh != 0 {
			c.flags |= fWaitDrain
			continue
		}
		l.offer(c, c.in)
		l.finishEOF(c)
	}
	l.due = append(l.due[:0], l.due[n:]...)
}

// timeoutMs is how long the poller may sleep: not at all while
// connections are due, otherwise until the next wheel tick or OnTick, or
// forever.
func (l *loop) timeoutMs() int {
	if len(l.due) > 0 {
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
	if hs := l.nextHandshakeDeadline(); !hs.IsZero() && (next.IsZero() || hs.Before(next)) {
		next = hs
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

// timers runs what is due: accepting again after a pause, the idle wheel,
// OnTick.
func (l *loop) timers() {
	if l.wheel == nil && l.nextTk.IsZero() && !l.acceptPaused && (l.tls == nil || l.tls.head == nil) {
		return
	}
	now := time.Now()
	if l.tls != nil && l.tls.head != nil {
		l.expireHandshakes()
	}
	if l.acceptPaused && !now.Before(l.nextAccept) {
		l.resumeAccept()
	}
	if l.wheel != nil {
		for !now.Before(l.nextWh) {
			l.nextWh = l.nextWh.Add(l.tickDur)
			l.wheel.advance(func(c *Conn) uint32 { return c.lastTick }, func(c *Conn) {
				l.stats.idleTimeouts.Add(1)
				l.closeNow(c, ErrIdleTimeout)
			})
		}
	}
	if !l.nextTk.IsZero() && !now.Before(l.nextTk) {
		next, act := l.callTick()
		if next <= 0 {
			l.nextTk = time.Time{}
		} else {
			l.nextTk = now.Add(next)
		}
		l.engineAction(act)
	}
}

func (l *loop) callTick() (next time.Duration, act Action) {
	l.enter()
	defer l.leave()
	defer func() {
		if p := recover(); p != nil {
			l.stats.panics.Add(1)
			l.e.logger().Error("eventloop: OnTick panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			next, act = time.Second, None
		}
	}()
	return l.e.Handler.(Ticker).OnTick()
}

// engineAction carries out the Actions that concern the whole engine;
// on a loop neither call waits.
func (l *loop) engineAction(act Action) {
	switch act {
	case Shutdown:
		l.e.Shutdown(context.Background())
	case StopAccepting:
		l.e.StopAccept()
	}
}

// yield passes through the Go scheduler every few milliseconds: before the
// loop polls, and every 64 events of a long batch. To sysmon, a goroutine
// that has not been rescheduled for 10ms is one that runs too long: from
// then on it takes the P away at every blocking epoll_wait and keeps
// waking every 20µs to do it again, which costs a context switch or two
// per message on the loop's CPU (measured: 1.9 against 1.2 a message for
// one connection, and a third of the round-trip rate; see BENCHMARKS.md).
// A locked goroutine's yield hands the thread over and back, so it is not
// done on every round. A loop that goes 10ms without one (a batch of slow
// callbacks) is also preempted by signal: tgkill and a signal return.
// The check costs a clock read.
func (l *loop) yield() {
	now := time.Now()
	if now.Sub(l.lastYield) < 5*time.Millisecond {
		return
	}
	l.lastYield = now
	if l.u != nil || l.keepThread() {
		// The ring belongs to this thread (SINGLE_ISSUER), and a TLS
		// handshake's coroutine to the thread it was made on: the
		// goroutine stays locked, and the yield hands the thread over
		// and back.
		runtime.Gosched()
		return
	}
	// Unlocked for the yield: a locked goroutine's Gosched hands the
	// thread to another M and back (four futex calls); an unlocked one
	// just goes round the run queue, and with nothing else to run comes
	// back to the same thread. Another goroutine may run on this thread
	// meanwhile, so the thread is not the loop's until it is locked again.
	l.tid.Store(0)
	runtime.UnlockOSThread()
	runtime.Gosched()
	runtime.LockOSThread()
	l.tid.Store(int32(unix.Gettid()))
}
