//go:build linux

package eventloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// ListenAndServe opens a listening socket on network ("tcp", "tcp4",
// "tcp6", "unix", "udp", "udp4", "udp6") and addr with socket.Listen, and
// serves it until Shutdown or Close. With ReusePort (IP networks) each
// loop gets a listener of its own (SO_REUSEPORT) on the same address.
func (e *Engine) ListenAndServe(network, addr string) error {
	lns, err := e.listen(network, addr)
	if err != nil {
		e.mu.Lock()
		e.markReady() // no one waits for a Serve that will not run
		e.mu.Unlock()
		return err
	}
	return e.Serve(lns...)
}

// listen opens ListenAndServe's listeners.
func (e *Engine) listen(network, addr string) ([]*socket.Socket, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix":
	default:
		return nil, fmt.Errorf("eventloop: network %q: the engine serves tcp, tcp4, tcp6, udp, udp4, udp6 and unix", network)
	}
	reuse := e.ReusePort && network != "unix"
	count := 1
	if reuse {
		count = e.loopCount()
	}
	var lns []*socket.Socket
	for i := 0; i < count; i++ {
		ln, err := socket.Listen(network, addr, &socket.ListenOptions{ReusePort: reuse})
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
		if i == 0 && count > 1 {
			addr = ln.LocalAddr().String() // the others share the port the first one got
		}
	}
	return lns, nil
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
// several (SO_REUSEPORT) each loop watches its own. Serve always closes
// the listeners before it returns, as net/http's Serve does.
//
// The listeners need not be the engine's own: a socket inherited from
// another process (socket.NewFd on a descriptor that systemd's socket
// activation passed, or that the process this one replaces handed over;
// see the package documentation's "Sockets from elsewhere") is served
// the same way. Serve checks each: a stream socket must listen (a
// connected one, as systemd's Accept=yes passes, is refused with an error
// that says so), and all must be of one type. Serve with no listener, or
// a nil one, returns an error matching os.ErrInvalid.
//
// Whatever makes Serve return without serving, it has closed Ready by
// then.
func (e *Engine) Serve(listeners ...*socket.Socket) error {
	refuse := func(err error) error {
		for _, ln := range listeners {
			ln.Close()
		}
		e.mu.Lock()
		e.markReady() // no one waits for a Serve that has failed
		e.mu.Unlock()
		return err
	}
	if e.Handler == nil {
		return refuse(errors.New("eventloop: no Handler"))
	}
	if len(listeners) == 0 {
		return refuse(fmt.Errorf("eventloop: no listener: %w", os.ErrInvalid))
	}
	if err := checkListeners(listeners); err != nil {
		return refuse(err)
	}
	udp := listeners[0].Type() == socket.SOCK_DGRAM
	if _, ok := e.Handler.(PacketHandler); udp && !ok {
		return refuse(errors.New("eventloop: a UDP engine needs a Handler with OnPacket"))
	}
	var epollOnly string
	switch listeners[0].Type() {
	case socket.SOCK_DGRAM:
		epollOnly = "UDP engines use epoll under every backend: recvmmsg(2) and sendmmsg(2) already take 32 datagrams a system call"
	case socket.SOCK_SEQPACKET:
		epollOnly = "SOCK_SEQPACKET engines use epoll under every backend: a receive into a provided buffer would cut a message longer than the buffer"
	}
	be, why, err := resolveBackend(e.Backend, epollOnly)
	if err != nil {
		return refuse(err)
	}
	if err := e.tlsConfig(udp); err != nil {
		return refuse(err)
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return refuse(errors.New("eventloop: Serve called twice"))
	}
	if e.closing.Load() {
		e.mu.Unlock()
		return refuse(ErrEngineClosed)
	}
	e.started = true
	e.backend, e.backendWhy = be, why
	e.done = make(chan struct{})
	e.listeners = listeners
	n := e.loopCount()
	if udp {
		n = len(listeners)
	}
	fail := func(err error) error {
		e.listeners = nil
		e.mu.Unlock()
		e.closeLoops()
		close(e.done)
		return refuse(err)
	}
	for i := 0; i < n; i++ {
		l, err := newLoop(e, i)
		if err != nil {
			return fail(err)
		}
		e.loops = append(e.loops, l)
	}
	// Listeners: one per loop (SO_REUSEPORT or UDP), or one for all.
	for i, l := range e.loops {
		var ln *socket.Socket
		want := wantRead
		switch {
		case len(listeners) == len(e.loops):
			ln = listeners[i]
		case len(listeners) == 1:
			ln = listeners[0]
			want = shared
		default:
			return fail(fmt.Errorf("eventloop: %d listeners for %d loops: give 1 or %d", len(listeners), len(e.loops), len(e.loops)))
		}
		if err := l.addListener(ln, want, udp); err != nil {
			return fail(err)
		}
	}
	loops := e.loops
	e.markReady()
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

// closeLoops releases the loops' descriptors once they have stopped (or
// never ran).
func (e *Engine) closeLoops() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.loops {
		l.stop()
	}
}

// Addr returns the address of the (first) listener, or nil before Serve
// (see Ready) and after a Serve that failed.
func (e *Engine) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.listeners) == 0 {
		return nil
	}
	return e.listeners[0].LocalAddr()
}

// Shutdown stops accepting at once, sends every connection's pending
// output, closes the connections and stops the loops. It returns nil when
// the engine has stopped; if ctx ends first, it closes what is left at
// once (as Close), waits for the loops to stop and returns ctx's error.
// Close from any goroutine ends a waiting Shutdown (it returns nil).
//
// Called from a callback (on a loop), Shutdown starts the same and
// returns nil at once, whatever ctx: the loop finishes the shutdown once
// the callback has returned, and Serve returns when it is done. Waiting
// there would wait for the very callback that is waiting. Returning
// Shutdown from a callback does the same. From any other goroutine (a
// Blocking handler's included) it waits as above: the engine closes the
// caller's connection too, once its pending output is sent.
func (e *Engine) Shutdown(ctx context.Context) error {
	if e.closing.CompareAndSwap(false, true) {
		e.broadcast(func(l *loop) { l.beginShutdown(false) })
	}
	if e.callingLoop() != nil {
		return nil
	}
	if err := e.wait(ctx); err != nil {
		e.broadcast(func(l *loop) { l.beginShutdown(true) })
		<-e.doneChan()
		return err
	}
	return nil
}

// StopAccept stops taking new connections and leaves the open ones alone:
// for a caller that waits for its own requests to finish before calling
// Shutdown. Called from any goroutine but a loop's, it returns once no
// loop will accept again, so every connection accepted before it returned
// has had its OnOpen. Called from a callback it does not wait for the
// other loops (two loops doing so at once would wait for each other): no
// loop starts another accept after it returns, and a loop that was
// already taking a connection finishes with that one. Returning
// StopAccepting from a callback does the same.
//
// Called from any other goroutine, StopAccept also serves the
// connections queued when each loop stops accepting (OnOpen and all,
// before it returns): the kernel wakes one waiter of a listening socket
// for each connection, and may have woken this engine for them, so that
// another server of the socket (the next process of a zero-downtime
// restart) would not see them until another connection came. Connections
// that arrive after it returned stay in the listen queue for whoever else
// serves the socket. With the io_uring backend it also waits until the
// kernel has ended each loop's multishot accept (its cancellation's last
// completion): a connection the kernel accepted meanwhile has left the
// queue, so the engine serves it too.
func (e *Engine) StopAccept() {
	e.noAccept.Store(true)
	me := e.callingLoop()
	e.mu.Lock()
	loops := e.loops
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range loops {
		switch {
		case l == me:
			l.stopAccepting(false)
		case me != nil:
			l.submit(task{fn: func(l *loop) { l.stopAccepting(false) }})
		default:
			wg.Add(1)
			if l.submit(task{fn: func(l *loop) { l.stopAccepting(true); l.whenAcceptsEnded(wg.Done) }}) != nil {
				wg.Done() // stopped: it accepts nothing
			}
		}
	}
	wg.Wait()
}

// callingLoop returns the loop whose goroutine is calling, or nil. A loop's
// goroutine is locked to its OS thread whenever it can run a callback
// (runtime.LockOSThread: no other goroutine runs on that thread meanwhile),
// and the loop records the thread's id while it is locked, so the caller's
// thread id tells.
func (e *Engine) callingLoop() *loop {
	e.mu.Lock()
	loops := e.loops
	e.mu.Unlock()
	if len(loops) == 0 {
		return nil
	}
	tid := int32(unix.Gettid())
	for _, l := range loops {
		if l.tid.Load() == tid {
			return l
		}
	}
	return nil
}

// Close stops the engine at once: listeners and connections are closed
// without waiting for pending output (OnClose gets a nil error). It does
// not wait for the loops to stop (Serve returns when they have), so it
// may be called from anywhere, a callback included; it always returns
// nil.
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
